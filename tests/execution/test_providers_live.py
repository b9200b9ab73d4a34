"""Turns through the real gunicorn+gevent server with ENGINE_MODEL set to each real provider,
the provider being a local fake that speaks its wire format."""

import json
import uuid

import pytest

from execution.models import Message, Run
from tests.fake_models import (
    FakeModelServer, anthropic_error, anthropic_reply, openai_error, openai_reply, text, thinking, tool_use,
)
from tests.live_server import EngineServer
from tests.sse import execute, without_heartbeats

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

KEY = "sk-live-provider-key-9876543210"


@pytest.fixture(scope="module")
def fake():
    server = FakeModelServer()
    yield server
    server.close()


def _server(django_db_blocker, env: dict):
    with django_db_blocker.unblock():
        return EngineServer(env=env).start()


@pytest.fixture(scope="module")
def claude_server(django_db_setup, django_db_blocker, fake):
    server = _server(django_db_blocker, {
        "ENGINE_MODEL": "anthropic:claude-test", "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": KEY,
        "ENGINE_THINKING_BUDGET": "2048",
    })
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gpt_server(django_db_setup, django_db_blocker, fake):
    server = _server(django_db_blocker, {
        "ENGINE_MODEL": "openai:gpt-test", "OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": KEY,
    })
    yield server
    server.stop()


def task() -> str:
    return f"task-{uuid.uuid4().hex[:8]}"


def turn(server, key: str, message: str, task_id: str | None = None) -> list:
    return without_heartbeats(execute(server, key, {"message": message, "task_id": task_id or task(), "direct": True}))


def names(events) -> list[str]:
    collapsed = []
    for event in events:
        if not (collapsed and event.event.endswith("_delta") and collapsed[-1] == event.event):
            collapsed.append(event.event)
    return collapsed


def said(events, kind: str = "text_delta") -> str:
    return "".join(event.data["text"] for event in events if event.event == kind)


# --- Anthropic ---------------------------------------------------------------------------------

def test_an_anthropic_turn_streams_thinking_then_text_and_the_signed_thinking_goes_back(claude_server, fake, key):
    task_id = task()
    fake.script(anthropic_reply(thinking("The user greets me.", "sig-live"), text("Hello there!"),
                                usage={"cache_read_input_tokens": 120, "cache_creation_input_tokens": 30}))
    events = turn(claude_server, key, "hello", task_id)
    assert names(events) == [
        "thread_lifecycle", "content_block_start", "thinking_delta", "content_block_stop",
        "content_block_start", "text_delta", "content_block_stop", "usage", "thread_lifecycle"]
    assert said(events, "thinking_delta") == "The user greets me." and said(events) == "Hello there!"
    usage = next(e.data for e in events if e.event == "usage")
    assert (usage["model"], usage["cache_read_tokens"], usage["cache_write_tokens"]) == ("anthropic:claude-test", 120, 30)
    assert events[-1].data["phase"] == "completed"
    reply = Message.objects.filter(task__task_id=task_id, role="assistant").get()
    assert reply.content[0] == {"type": "thinking", "thinking": "The user greets me.", "signature": "sig-live"}

    fake.script(anthropic_reply(text("Again.")))
    turn(claude_server, key, "once more", task_id)
    [sent] = fake.requests
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent.body["messages"][1]["content"][0] == reply.content[0]


def test_an_anthropic_step_with_two_tool_calls_runs_both_and_sends_both_results_back(claude_server, fake, key):
    fake.script(
        anthropic_reply(thinking("Two tools.", "sig-tools"), text("Let me check."),
                        tool_use("toolu_a", "current_time", {}), tool_use("toolu_b", "no_such_tool", {"q": 1})),
        anthropic_reply(text("It is noon, and that other tool does not exist.")),
    )
    events = turn(claude_server, key, "what time is it?")
    assert events[-1].data["phase"] == "completed"
    calls = [e.data for e in events if e.event == "tool_call"]
    results = {e.data["tool_call_id"]: e.data for e in events if e.event == "tool_result"}
    assert [(c["tool_call_id"], c["tool"], c["input"]) for c in calls] == [
        ("toolu_a", "current_time", {}), ("toolu_b", "no_such_tool", {"q": 1})]
    assert "utc" in results["toolu_a"]["output"] and "no_such_tool" in results["toolu_b"]["error"]

    first, second = fake.requests
    assert "current_time" in [tool["name"] for tool in first.body["tools"]]
    assert first.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assistant, answers = second.body["messages"][-2:]
    assert [block["type"] for block in assistant["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert assistant["content"][0]["signature"] == "sig-tools"
    assert [(a["tool_use_id"], a["is_error"]) for a in answers["content"]] == [("toolu_a", False), ("toolu_b", True)]
    assert "utc" in json.loads(answers["content"][0]["content"])
    assert answers["content"][-1]["cache_control"] == {"type": "ephemeral"}


def test_an_anthropic_rate_limit_is_retried_and_the_turn_completes(claude_server, fake, key):
    fake.script(anthropic_error(429, "rate_limit_error", "slow down", {"retry-after": "0"}),
                anthropic_reply(text("Made it.")))
    events = turn(claude_server, key, "hi")
    assert "error" not in names(events) and events[-1].data["phase"] == "completed"
    assert said(events) == "Made it." and len(fake.requests) == 2


def test_an_anthropic_auth_failure_ends_the_turn_with_llm_auth_error(claude_server, fake, key):
    fake.script(anthropic_error(401, "authentication_error", f"invalid x-api-key: {KEY}"))
    events = turn(claude_server, key, "hi")
    assert names(events)[-2:] == ["error", "thread_lifecycle"]
    assert events[-2].data["error"] == "LLM_AUTH_ERROR" and "ANTHROPIC_API_KEY" in events[-2].data["message"]
    assert events[-1].data["phase"] == "errored"
    assert len(fake.requests) == 1
    assert KEY not in json.dumps([e.data for e in events])
    run = Run.objects.get(id=events[0].data["run_id"])
    assert (run.status, run.error_code) == ("errored", "LLM_AUTH_ERROR") and KEY not in run.error_message
    assert KEY not in claude_server.log()


# --- OpenAI-compatible -------------------------------------------------------------------------

def test_an_openai_turn_streams_text_and_reports_usage(gpt_server, fake, key):
    fake.script(openai_reply("Hello from a compatible server."))
    events = turn(gpt_server, key, "hello")
    assert names(events) == [
        "thread_lifecycle", "content_block_start", "text_delta", "content_block_stop", "usage", "thread_lifecycle"]
    assert said(events) == "Hello from a compatible server."
    usage = next(e.data for e in events if e.event == "usage")
    assert (usage["model"], usage["input_tokens"], usage["output_tokens"]) == ("openai:gpt-test", 30, 9)
    [sent] = fake.requests
    assert sent.body["model"] == "gpt-test" and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"][-1] == {"role": "user", "content": "hello"}


def test_an_openai_step_with_two_tool_calls_runs_both_and_sends_both_results_back(gpt_server, fake, key):
    fake.script(
        openai_reply("Checking.", tool_calls=[("call_a", "current_time", {}), ("call_b", "no_such_tool", {"q": "x"})]),
        openai_reply("Done."),
    )
    events = turn(gpt_server, key, "what time is it?")
    assert events[-1].data["phase"] == "completed" and said(events).endswith("Done.")
    results = {e.data["tool_call_id"]: e.data for e in events if e.event == "tool_result"}
    assert "utc" in results["call_a"]["output"] and results["call_b"]["error"]
    first, second = fake.requests
    assert {tool["function"]["name"] for tool in first.body["tools"]} >= {"current_time"}
    assistant, *tool_messages = second.body["messages"][-3:]
    assert [call["id"] for call in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert assistant["tool_calls"][1]["function"] == {"name": "no_such_tool", "arguments": '{"q": "x"}'}
    assert [(m["role"], m["tool_call_id"]) for m in tool_messages] == [("tool", "call_a"), ("tool", "call_b")]
    assert "utc" in tool_messages[0]["content"] and tool_messages[1]["content"].startswith("Error: ")


def test_an_openai_rate_limit_is_retried_and_the_turn_completes(gpt_server, fake, key):
    fake.script(openai_error(429, "slow down", error_type="requests", headers={"retry-after": "0"}),
                openai_reply("Made it."))
    events = turn(gpt_server, key, "hi")
    assert "error" not in names(events) and events[-1].data["phase"] == "completed"
    assert said(events) == "Made it." and len(fake.requests) == 2


def test_an_openai_auth_failure_ends_the_turn_with_llm_auth_error(gpt_server, fake, key):
    fake.script(openai_error(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key"))
    events = turn(gpt_server, key, "hi")
    assert names(events)[-2:] == ["error", "thread_lifecycle"]
    assert events[-2].data["error"] == "LLM_AUTH_ERROR" and events[-1].data["phase"] == "errored"
    assert len(fake.requests) == 1
    assert KEY not in json.dumps([e.data for e in events])
    assert KEY not in gpt_server.log()
