"""Tools, permissions, working memory and compaction inside real turns (real server)."""

import json
import subprocess
import threading
import time
import uuid

import pytest
import requests

from execution.models import Compaction, Message
from tests.live_server import EngineServer
from tests.sse import execute, without_heartbeats

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def task() -> str:
    return f"task-{uuid.uuid4().hex[:8]}"


def reply(events) -> str:
    return "".join(e.data["text"] for e in events if e.event == "text_delta")


def test_bash_and_file_tools_work_in_the_task_workspace(engine_server, key):
    task_id = task()
    execute(engine_server, key, {"message": '/tool write_file {"path": "notes/a.txt", "content": "alpha"}', "task_id": task_id, "direct": True})
    events = execute(engine_server, key, {"message": '/tool bash {"command": "cat notes/a.txt; ls"}', "task_id": task_id, "direct": True})
    result = next(e for e in events if e.event == "tool_result").data
    assert result["output"] == {"exit_code": 0, "output": "alpha" "notes\n", "truncated": False}
    escape = execute(engine_server, key, {"message": '/tool read_file {"path": "../../etc/passwd"}', "task_id": task_id, "direct": True})
    refused = next(e for e in escape if e.event == "tool_result").data
    assert refused["output"] is None and "outside the workspace" in refused["error"]
    assert "root:" not in json.dumps([e.data for e in escape])


def test_a_tool_error_goes_back_to_the_model_and_the_turn_completes(engine_server, key):
    events = execute(engine_server, key, {"message": '/tool bash {"cmd": "ls"}', "task_id": task(), "direct": True})
    result = next(e for e in events if e.event == "tool_result").data
    assert "Invalid input for bash" in result["error"]
    assert "The tool bash failed: Invalid input" in reply(events)
    assert events[-1].data["phase"] == "completed"


def test_working_memory_is_emitted_and_seen_on_later_turns(engine_server, key):
    task_id = task()
    events = execute(engine_server, key, {"message": '/tool working_memory {"action": "set", "content": "buy oat milk"}', "task_id": task_id, "direct": True})
    update = next(e for e in events if e.event == "working_memory_update").data
    assert update["content"] == "buy oat milk" and update["version"] == 1
    later = execute(engine_server, key, {"message": "/context", "task_id": task_id, "direct": True})
    assert "buy oat milk" in reply(later)
    other = execute(engine_server, key, {"message": "/context", "task_id": task(), "direct": True})
    assert "buy oat milk" not in reply(other)


def test_cancel_kills_a_running_command_within_a_second(engine_server, key):
    task_id = task()
    marker = f"sleep 10{uuid.uuid4().int % 10}"
    body = {"message": f'/tool bash {{"command": "{marker}; echo never"}}', "task_id": task_id, "direct": True}
    streamed = []
    reader = threading.Thread(target=lambda: streamed.extend(execute(engine_server, key, body)))
    reader.start()
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    started = time.monotonic()
    cancelled = requests.post(f"{engine_server.url}/execute/cancel", json={"task_id": task_id}, headers={"X-Engine-Key": key}, timeout=10)
    assert cancelled.json()["status"] == "cancelled"
    assert time.monotonic() - started < 1.0
    reader.join(timeout=10)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
    assert without_heartbeats(streamed)[-1].data["phase"] == "cancelled"


def test_denied_calls_never_run_and_tell_the_model_why(key, tmp_path):
    rules = [{"tool": "bash", "pattern": "touch *", "decision": "deny"}]
    with EngineServer(env={"ENGINE_PERMISSION_RULES": json.dumps(rules), "ENGINE_WORKSPACES_DIR": str(tmp_path)}) as server:
        task_id = task()
        denied = execute(server, key, {"message": '/tool bash {"command": "touch evidence"}', "task_id": task_id, "direct": True})
        allowed = execute(server, key, {"message": '/tool bash {"command": "echo ok"}', "task_id": task_id, "direct": True})
    assert "Permission denied (rule deny bash 'touch *'" in next(e for e in denied if e.event == "tool_result").data["error"]
    assert next(e for e in allowed if e.event == "tool_result").data["output"]["output"] == "ok\n"
    assert not list(tmp_path.rglob("evidence"))


def test_a_long_task_is_compacted_under_budget_and_the_model_sees_the_summary(key):
    with EngineServer(env={"ENGINE_CONTEXT_BUDGET": "400"}) as server:
        task_id = task()
        earlier = []
        for n in range(6):
            earlier += execute(server, key, {"message": f"fact {n}: " + "lorem ipsum dolor " * 12, "task_id": task_id, "direct": True})
        events = without_heartbeats(execute(server, key, {"message": "/history", "task_id": task_id, "direct": True}))
    compactions = Compaction.objects.filter(task__task_id=task_id)
    assert compactions.exists()
    latest = compactions.first()
    assert latest.tokens_after <= 400 < latest.tokens_before
    assert "The user said: fact 0" in latest.summary or "Earlier summary" in latest.summary or "fact" in latest.summary
    seen = reply(events)
    assert "Summary of the conversation so far:" in seen
    usage = [e.data["input_tokens"] for e in events if e.event == "usage"]
    assert usage and max(usage) <= 400
    assert Message.objects.filter(task__task_id=task_id).count() == 14  # nothing deleted
    emitted = [e.data for e in earlier + events if e.event == "compaction_event"]
    assert len(emitted) == compactions.count()
    assert emitted[-1]["collapsed_messages"] == latest.collapsed_messages and emitted[-1]["summary"] == latest.summary
