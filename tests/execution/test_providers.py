"""The Anthropic and OpenAI providers, each SDK talking to a local fake of its provider."""

import base64
import time

import gevent
import pytest

from execution import llm
from execution.llm import ModelError, ModelRequest, Stop, TextDelta, ThinkingDelta, ToolSpec, ToolUse, Usage
from execution.providers import failures
from execution.providers.anthropic import AnthropicModel
from execution.providers.conversation import INTERRUPTED_CALL
from execution.providers.openai import OpenAIModel
from tests.fake_models import (
    FakeModelServer, anthropic_error, anthropic_reply, anthropic_stream_error, openai_error, openai_reply, text,
    thinking, tool_use,
)
from tests.live_server import free_port

KEY = "sk-test-provider-key-0123456789"
CLOCK = ToolSpec(name="current_time", description="The time.", input_schema={"type": "object", "properties": {}})
PNG = base64.b64encode(b"\x89PNG fake").decode()
NOTES = base64.b64encode(b"remember the milk").decode()


@pytest.fixture(scope="module")
def fake():
    server = FakeModelServer()
    yield server
    server.close()


@pytest.fixture
def claude(fake, settings) -> AnthropicModel:
    settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY = fake.url, KEY
    settings.ENGINE_THINKING_BUDGET = 0
    return AnthropicModel("claude-test")


@pytest.fixture
def gpt(fake, settings) -> OpenAIModel:
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = f"{fake.url}/v1", KEY
    return OpenAIModel("gpt-test")


def ask(text_: str = "hi", *, tools=(CLOCK,), purpose: str = "turn") -> ModelRequest:
    return ModelRequest(system="Be brief.", messages=[{"role": "user", "content": [{"type": "text", "text": text_}]}],
                        tools=list(tools), purpose=purpose)


def joined(events, kind) -> str:
    return "".join(event.text for event in events if type(event) is kind)


HISTORY = [
    {"role": "user", "content": [{"type": "text", "text": "first"}]},
    {"role": "user", "content": [{"type": "text", "text": "queued"},
                                 {"type": "image", "media_type": "image/png", "data": PNG, "size": 9}]},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "signed", "signature": "sig-1"},
                                      {"type": "thinking", "thinking": "unsigned"},
                                      {"type": "text", "text": "Checking."},
                                      {"type": "tool_use", "id": "call-a", "name": "current_time", "input": {}},
                                      {"type": "tool_use", "id": "call-b", "name": "current_time", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call-a", "content": "noon", "is_error": False},
                                 {"type": "tool_result", "tool_use_id": "call-gone", "content": "x", "is_error": False}]},
    {"role": "assistant", "content": [{"type": "text", "text": "  "}]},
    {"role": "user", "content": [{"type": "text", "text": "and now?"},
                                 {"type": "file", "media_type": "text/plain", "data": NOTES, "size": 17, "name": "notes.txt"}]},
]


# --- Anthropic ---------------------------------------------------------------------------------

def test_anthropic_streams_thinking_text_a_tool_call_with_assembled_input_and_usage(fake, claude):
    fake.script(anthropic_reply(
        thinking("Let me look at the clock.", "sig-abc"), text("Checking the time."),
        tool_use("toolu_1", "current_time", {"zone": "UTC", "nested": {"a": [1, 2]}}),
        usage={"input_tokens": 40, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 20,
               "final_output_tokens": 55},
    ))
    events = list(claude.stream(ask()))
    assert joined(events, ThinkingDelta) == "Let me look at the clock."
    assert [e.signature for e in events if isinstance(e, ThinkingDelta) and e.signature] == ["sig-abc"]
    assert joined(events, TextDelta) == "Checking the time."
    assert [e for e in events if isinstance(e, ToolUse)] == [
        ToolUse(id="toolu_1", name="current_time", input={"zone": "UTC", "nested": {"a": [1, 2]}})]
    assert events[-2:] == [Usage(input_tokens=40, output_tokens=55, cache_read_tokens=300, cache_write_tokens=20),
                           Stop("tool_use")]


def test_anthropic_gets_the_system_prompt_and_tools_marked_for_caching_and_no_sdk_retries(fake, claude):
    fake.script(anthropic_reply(text("Hi.")))
    list(claude.stream(ask()))
    [sent] = fake.requests
    assert sent.path == "/v1/messages"
    assert KEY in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "").removeprefix("Bearer "))
    body = sent.body
    assert body["model"] == "claude-test" and body["stream"] is True and body["max_tokens"] == 4096
    assert body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert body["tools"] == [{"name": "current_time", "description": "The time.",
                              "input_schema": {"type": "object", "properties": {}}, "cache_control": {"type": "ephemeral"}}]
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]
    assert "thinking" not in body


def test_anthropic_thinks_with_the_budget_on_agent_steps_only(fake, claude, settings):
    settings.ENGINE_THINKING_BUDGET = 100
    fake.script(anthropic_reply(text("Hi.")), anthropic_reply(text("Plan.")))
    list(claude.stream(ask()))
    list(claude.stream(ask(purpose="plan", tools=())))
    step, plan = fake.requests
    assert step.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert step.body["max_tokens"] == 4096 + 1024
    assert "thinking" not in plan.body and "tools" not in plan.body


def test_anthropic_gets_a_conversation_it_accepts(fake, claude, settings):
    settings.ENGINE_THINKING_BUDGET = 2048
    fake.script(anthropic_reply(text("Fine.")))
    list(claude.stream(ModelRequest(system="s", messages=HISTORY, tools=[CLOCK])))
    messages = fake.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "first"}, {"type": "text", "text": "queued"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]
    assert messages[1]["content"] == [
        {"type": "thinking", "thinking": "signed", "signature": "sig-1"}, {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call-a", "name": "current_time", "input": {}},
        {"type": "tool_use", "id": "call-b", "name": "current_time", "input": {}}]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call-a", "content": "noon", "is_error": False},
        {"type": "tool_result", "tool_use_id": "call-b", "content": INTERRUPTED_CALL, "is_error": True},
        {"type": "text", "text": "and now?"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "remember the milk"},
         "title": "notes.txt", "cache_control": {"type": "ephemeral"}}]
    assert HISTORY[2]["content"][1] == {"type": "thinking", "thinking": "unsigned"}  # the thread itself is untouched


def test_without_tools_or_thinking_the_conversation_carries_calls_as_text(fake, claude):
    fake.script(anthropic_reply(text("Plan.")))
    list(claude.stream(ModelRequest(system="s", messages=HISTORY, purpose="plan")))
    messages = fake.requests[0].body["messages"]
    assert [block["type"] for block in messages[1]["content"]] == ["text", "text", "text"]
    assert messages[1]["content"][1]["text"] == "[I called the tool current_time with {}]"
    assert messages[2]["content"][0]["text"] == "[The tool returned: noon]"


@pytest.mark.parametrize("canned, code, retryable, retry_after", [
    (anthropic_error(401, "authentication_error", f"invalid x-api-key {KEY}"), "LLM_AUTH_ERROR", False, None),
    (anthropic_error(403, "permission_error", "not allowed"), "LLM_AUTH_ERROR", False, None),
    (anthropic_error(429, "rate_limit_error", "slow down", {"retry-after": "7"}), "LLM_RATE_LIMITED", True, 7.0),
    (anthropic_error(529, "overloaded_error", "Overloaded"), "LLM_OVERLOADED", True, None),
    (anthropic_error(500, "api_error", "boom"), "LLM_PROVIDER_ERROR", True, None),
    (anthropic_error(400, "invalid_request_error", "bad model"), "LLM_PROVIDER_ERROR", False, None),
    (anthropic_stream_error("overloaded_error", "Overloaded"), "LLM_OVERLOADED", True, None),
    (anthropic_reply(text("cut short"), complete=False), "LLM_BAD_STREAM", True, None),
])
def test_anthropic_failures_become_model_errors_without_the_key(fake, claude, canned, code, retryable, retry_after):
    fake.script(canned)
    with pytest.raises(ModelError) as failure:
        list(claude.stream(ask()))
    assert (failure.value.code, failure.value.retryable, failure.value.retry_after) == (code, retryable, retry_after)
    assert failure.value.message and KEY not in failure.value.message
    assert len(fake.requests) == 1


def test_a_stalled_stream_ends_with_llm_timeout(fake, claude, settings):
    settings.ENGINE_MODEL_TIMEOUT = 0.3
    fake.script(anthropic_reply(text("slow answer"), pause=1.0))
    started = time.monotonic()
    with pytest.raises(ModelError) as failure:
        list(AnthropicModel("claude-test").stream(ask()))
    assert (failure.value.code, failure.value.retryable) == ("LLM_TIMEOUT", True)
    assert time.monotonic() - started < 2


def test_a_whole_call_is_cut_off_at_its_deadline_even_while_waiting(settings):
    def trickle():
        yield "first"
        gevent.sleep(5)  # a provider that only sends keep-alives from here on
        yield "never"

    received = []
    started = time.monotonic()
    with pytest.raises(ModelError) as failure:
        for item in failures.until_deadline(trickle(), time.monotonic() + 0.2, "The provider"):
            received.append(item)
    assert failure.value.code == "LLM_TIMEOUT" and received == ["first"]
    assert time.monotonic() - started < 1


def test_an_unreachable_provider_is_a_retryable_provider_error(settings):
    settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY = f"http://user:pw@127.0.0.1:{free_port()}", KEY
    with pytest.raises(ModelError) as failure:
        list(AnthropicModel("claude-test").stream(ask()))
    assert (failure.value.code, failure.value.retryable) == ("LLM_PROVIDER_ERROR", True)
    assert "pw" not in failure.value.message and "127.0.0.1" in failure.value.message


def test_without_an_anthropic_key_nothing_is_sent(fake, claude, settings):
    settings.ANTHROPIC_API_KEY = ""
    fake.script()
    with pytest.raises(ModelError) as failure:
        list(claude.stream(ask()))
    assert failure.value.code == "LLM_AUTH_ERROR" and "ANTHROPIC_API_KEY" in failure.value.message
    assert fake.requests == []


def test_an_abandoned_stream_is_closed_and_the_provider_stops_sending(fake, claude):
    fake.script(anthropic_reply(text("word " * 200), pause=0.02))
    events = claude.stream(ask())
    assert isinstance(next(events), TextDelta)
    events.close()
    deadline = time.monotonic() + 3
    while not fake.outcomes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.outcomes == ["abandoned"]


# --- OpenAI-compatible -------------------------------------------------------------------------

def test_openai_streams_text_reasoning_and_two_tool_calls_assembled_by_index(fake, gpt):
    fake.script(openai_reply("Two calls.", reasoning="Both tools.", tool_calls=[
        ("call_1", "current_time", {"zone": "UTC"}), ("call_2", "no_such_tool", {"text": "a longer argument"})]))
    events = list(gpt.stream(ask()))
    assert joined(events, ThinkingDelta) == "Both tools."
    assert joined(events, TextDelta) == "Two calls."
    assert [e for e in events if isinstance(e, ToolUse)] == [
        ToolUse(id="call_1", name="current_time", input={"zone": "UTC"}),
        ToolUse(id="call_2", name="no_such_tool", input={"text": "a longer argument"})]
    assert events[-2:] == [Usage(input_tokens=30, output_tokens=9), Stop("tool_use")]


def test_openai_counts_cached_prompt_tokens_apart(fake, gpt):
    fake.script(openai_reply("Hi.", usage={"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 64}}))
    events = list(gpt.stream(ask()))
    assert events[-2:] == [Usage(input_tokens=36, output_tokens=9, cache_read_tokens=64), Stop("end_turn")]


def test_openai_gets_tools_usage_options_and_the_conversation_in_chat_format(fake, gpt):
    fake.script(openai_reply("Fine."))
    list(gpt.stream(ModelRequest(system="s", messages=HISTORY, tools=[CLOCK])))
    [sent] = fake.requests
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 4096
    assert body["tools"] == [{"type": "function", "function": {
        "name": "current_time", "description": "The time.", "parameters": {"type": "object", "properties": {}}}}]
    assert body["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "queued"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call-a", "type": "function", "function": {"name": "current_time", "arguments": "{}"}},
            {"id": "call-b", "type": "function", "function": {"name": "current_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call-a", "content": "noon"},
        {"role": "tool", "tool_call_id": "call-b", "content": f"Error: {INTERRUPTED_CALL}"},
        {"role": "user", "content": "and now?\n\n[notes.txt]\nremember the milk"},
    ]


def test_openai_itself_gets_max_completion_tokens(settings):
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = "", KEY
    params = OpenAIModel("gpt-test").request_params(ask(tools=()))
    assert params["max_completion_tokens"] == 4096 and "max_tokens" not in params and "tools" not in params


def test_broken_tool_arguments_reach_the_tool_as_unparsed_input(fake, gpt):
    canned = openai_reply(tool_calls=[("call_1", "current_time", {})])
    canned.chunks = [chunk.replace(b'"arguments": "{}"', b'"arguments": "{oops"') for chunk in canned.chunks]
    fake.script(canned)
    [call] = [e for e in gpt.stream(ask()) if isinstance(e, ToolUse)]
    assert call.input == {"_unparsed": "{oops"}


@pytest.mark.parametrize("canned, code, retryable, retry_after", [
    (openai_error(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key"), "LLM_AUTH_ERROR", False, None),
    (openai_error(429, "slow down", error_type="requests", headers={"retry-after-ms": "250"}), "LLM_RATE_LIMITED", True, 0.25),
    (openai_error(429, "quota", error_type="insufficient_quota", code="insufficient_quota"), "LLM_RATE_LIMITED", False, None),
    (openai_error(500, "boom", error_type="server_error"), "LLM_PROVIDER_ERROR", True, None),
    (openai_error(404, "model not found"), "LLM_PROVIDER_ERROR", False, None),
    (openai_reply("cut short", complete=False), "LLM_BAD_STREAM", True, None),
])
def test_openai_failures_become_model_errors_without_the_key(fake, gpt, canned, code, retryable, retry_after):
    fake.script(canned)
    with pytest.raises(ModelError) as failure:
        list(gpt.stream(ask()))
    assert (failure.value.code, failure.value.retryable, failure.value.retry_after) == (code, retryable, retry_after)
    assert failure.value.message and KEY not in failure.value.message
    assert len(fake.requests) == 1


# --- choosing the provider ---------------------------------------------------------------------

def test_get_model_builds_the_configured_provider_once_per_process(fake, settings):
    settings.ANTHROPIC_BASE_URL, settings.OPENAI_BASE_URL = fake.url, f"{fake.url}/v1"
    settings.ENGINE_MODEL = "anthropic:claude-once"
    model = llm.get_model()
    assert isinstance(model, AnthropicModel) and model.name == "anthropic:claude-once" and llm.get_model() is model
    settings.ENGINE_MODEL = "openai:gpt-once"
    assert isinstance(llm.get_model(), OpenAIModel)


@pytest.mark.parametrize("spec", ["anthropic:", "openai", "gemini:pro"])
def test_an_unusable_engine_model_is_refused(spec):
    with pytest.raises(ValueError, match="ENGINE_MODEL"):
        llm._build_model(spec)
