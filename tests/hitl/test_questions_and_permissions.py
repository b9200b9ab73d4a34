"""Questions and permission prompts that pause a run, through the real server."""

import json
import os
import signal
import time
import uuid

import pytest

from execution.models import Run
from hitl.models import HitlRequest
from tests.hitl.conftest import TurnInBackground, respond, wait_for_pending
from tests.live_server import EngineServer
from tests.sse import execute, replay, without_heartbeats

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]
ASK_WRITES = json.dumps([{"tool": "write_file", "decision": "ask"}])


def task() -> str:
    return f"task-{uuid.uuid4().hex[:8]}"


def reply(events) -> str:
    return "".join(e.data["text"] for e in events if e.event == "text_delta")


@pytest.fixture(scope="module")
def asking_server(django_db_setup, django_db_blocker, tmp_path_factory):
    workspaces = tmp_path_factory.mktemp("workspaces")
    with django_db_blocker.unblock():
        server = EngineServer(env={"ENGINE_PERMISSION_RULES": ASK_WRITES, "ENGINE_WORKSPACES_DIR": str(workspaces)}).start()
    server.workspaces = workspaces
    yield server
    server.stop()


def test_a_question_pauses_the_turn_and_the_answer_resumes_it(engine_server, key):
    task_id = task()
    body = {"message": '/tool ask_user {"question": "Which colour?", "options": ["red", "blue"]}', "task_id": task_id, "direct": True}
    turn = TurnInBackground(engine_server, key, body)
    [pending] = wait_for_pending(engine_server, key, task_id)
    assert pending["kind"] == "question" and pending["question"] == "Which colour?" and pending["options"] == ["red", "blue"]
    run = Run.objects.get(id=pending["run_id"])
    assert run.status == "waiting"
    answered = respond(engine_server, key, task_id=task_id, answer="blue")
    assert answered.status_code == 200
    assert answered.json() == {"status": "resumed", "request_id": pending["request_id"], "resolution": "answered"}
    events = turn.finish()
    names = [e.event for e in events]
    asked, resolved = names.index("hitl_request"), names.index("hitl_resolved")
    assert asked < resolved < names.index("tool_result") < len(names) - 1
    assert events[asked].data["request_id"] == pending["request_id"]
    assert events[resolved].data == {**events[resolved].data, "status": "answered", "answer": "blue"}
    assert 'The tool ask_user returned: {"answer": "blue"}' in reply(events)
    assert events[-1].data["phase"] == "completed"
    assert Run.objects.get(id=run.id).status == "completed"
    assert HitlRequest.objects.get(id=pending["request_id"]).resolved_by.startswith("key:")


def test_two_parallel_permission_prompts_answered_in_reverse_order_go_to_the_right_calls(asking_server, key):
    task_id = task()
    body = {"message": '/tool write_file {"path": "first.txt", "content": "1"} /tool write_file {"path": "second.txt", "content": "2"}',
            "task_id": task_id, "direct": True}
    turn = TurnInBackground(asking_server, key, body)
    first, second = wait_for_pending(asking_server, key, task_id, count=2)
    assert (first["input"]["path"], second["input"]["path"]) == ("first.txt", "second.txt")
    assert first["request_id"] != second["request_id"]
    assert respond(asking_server, key, task_id=task_id, request_id=second["request_id"], answer="yes").status_code == 200
    assert Run.objects.get(id=first["run_id"]).status == "waiting"  # one answer is not enough
    assert respond(asking_server, key, task_id=task_id, request_id=first["request_id"], answer="no").status_code == 200
    events = turn.finish()
    results = {e.data["tool_call_id"]: e.data for e in events if e.event == "tool_result"}
    assert results[second["tool_call_id"]]["output"] == {"path": "second.txt", "bytes": 1}
    assert "denied by the user" in results[first["tool_call_id"]]["error"]
    written = {p.name for p in asking_server.workspaces.rglob("*.txt")}
    assert "second.txt" in written and "first.txt" not in written


def test_always_allow_lets_later_calls_of_that_task_skip_the_question(asking_server, key):
    task_id = task()
    turn = TurnInBackground(asking_server, key, {"message": '/tool write_file {"path": "a.txt", "content": "a"}', "task_id": task_id, "direct": True})
    wait_for_pending(asking_server, key, task_id)
    assert respond(asking_server, key, task_id=task_id, answer="yes", always_allow=True).status_code == 200
    turn.finish()
    later = execute(asking_server, key, {"message": '/tool write_file {"path": "b.txt", "content": "b"}', "task_id": task_id, "direct": True})
    assert "hitl_request" not in [e.event for e in later]
    assert next(e for e in later if e.event == "tool_result").data["output"] == {"path": "b.txt", "bytes": 1}
    other_task_id = task()
    other = TurnInBackground(asking_server, key, {"message": '/tool write_file {"path": "c.txt", "content": "c"}', "task_id": other_task_id, "direct": True})
    wait_for_pending(asking_server, key, other_task_id)  # the grant covers its own task only
    respond(asking_server, key, task_id=other_task_id, answer="no")
    other.finish()


def test_answers_are_checked_and_idempotent(engine_server, key):
    task_id = task()
    turn = TurnInBackground(engine_server, key, {"message": '/tool ask_user {"question": "Name?"}', "task_id": task_id, "direct": True})
    [pending] = wait_for_pending(engine_server, key, task_id)
    blank = respond(engine_server, key, task_id=task_id, answer="  ")
    assert (blank.status_code, blank.json()["error"]) == (400, "validation_error")
    assert (respond(engine_server, key, task_id="nope", answer="x").json()["error"]) == "hitl_not_found"
    assert respond(engine_server, key, task_id=task_id, request_id="hitl-nope", answer="x").status_code == 404
    assert respond(engine_server, key, task_id=task_id, answer="Ana").status_code == 200
    again = respond(engine_server, key, task_id=task_id, request_id=pending["request_id"], answer="Ana")
    assert again.status_code == 200 and again.json()["request_id"] == pending["request_id"]
    changed = respond(engine_server, key, task_id=task_id, request_id=pending["request_id"], answer="Bob")
    assert changed.status_code == 409 and changed.json()["error"] == "hitl_already_resolved"
    assert changed.json()["resolution"]["answer"] == "Ana"
    turn.finish()
    assert respond(engine_server, key, task_id=task_id, answer="late").json()["error"] == "hitl_not_found"


def test_a_permission_answer_must_be_yes_or_no(asking_server, key):
    task_id = task()
    turn = TurnInBackground(asking_server, key, {"message": '/tool write_file {"path": "m.txt", "content": "m"}', "task_id": task_id, "direct": True})
    wait_for_pending(asking_server, key, task_id)
    maybe = respond(asking_server, key, task_id=task_id, answer="maybe")
    assert maybe.status_code == 400 and "answer" in maybe.json()["details"]
    assert respond(asking_server, key, task_id=task_id, answer="no").status_code == 200
    turn.finish()


def test_an_expired_permission_is_a_denial_and_the_tool_never_runs(asking_server, key):
    task_id = task()
    turn = TurnInBackground(asking_server, key, {
        "message": '/tool write_file {"path": "late.txt", "content": "x"} /tool ask_user {"question": "Still there?", "expires_in_seconds": 1}',
        "task_id": task_id, "direct": True,
    })
    permission, question = wait_for_pending(asking_server, key, task_id, count=2)
    HitlRequest.objects.filter(id=permission["request_id"]).update(expires_at=question["expires_at"])
    events = turn.finish(timeout=30)
    statuses = {e.data["request_id"]: e.data["status"] for e in events if e.event == "hitl_resolved"}
    assert statuses == {permission["request_id"]: "expired", question["request_id"]: "expired"}
    assert HitlRequest.objects.get(id=permission["request_id"]).resolved_by == "system:expiry"
    results = {e.data["tool_call_id"]: e.data for e in events if e.event == "tool_result"}
    assert "not approved in time" in results[permission["tool_call_id"]]["error"]
    assert not list(asking_server.workspaces.rglob("late.txt"))
    gone = respond(asking_server, key, task_id=task_id, request_id=permission["request_id"], answer="yes")
    assert (gone.status_code, gone.json()["error"]) == (410, "hitl_expired")
    assert events[-1].data["phase"] == "completed"


def test_cancelling_a_waiting_run_cancels_its_requests(engine_server, key):
    task_id = task()
    turn = TurnInBackground(engine_server, key, {"message": '/tool ask_user {"question": "Wait?"}', "task_id": task_id, "direct": True})
    [pending] = wait_for_pending(engine_server, key, task_id)
    import requests

    cancelled = requests.post(f"{engine_server.url}/execute/cancel", json={"task_id": task_id}, headers={"X-Engine-Key": key}, timeout=10)
    assert cancelled.json()["status"] == "cancelled"
    events = turn.finish()
    assert events[-1].data["phase"] == "cancelled"
    assert HitlRequest.objects.get(id=pending["request_id"]).status == "cancelled"
    assert respond(engine_server, key, task_id=task_id, answer="yes").json()["error"] == "hitl_not_found"


def test_a_run_waiting_when_its_worker_dies_completes_after_the_answer(key):
    with EngineServer() as server:
        task_id = task()
        turn = TurnInBackground(server, key, {"message": '/tool ask_user {"question": "Survive?"}', "task_id": task_id, "direct": True})
        [pending] = wait_for_pending(server, key, task_id)
        worker = int(Run.objects.get(id=pending["run_id"]).worker.rpartition(":")[2])
        os.kill(worker, signal.SIGKILL)
        time.sleep(1.5)  # the master starts a new worker
        deadline = time.monotonic() + 20
        while (answered := respond(server, key, task_id=task_id, answer="yes, still here")).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        deadline = time.monotonic() + 20
        while Run.objects.get(id=pending["run_id"]).status != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        events = without_heartbeats(replay(server, key, params={"task_id": task_id, "after": 0}))
    names = [e.event for e in events]
    assert names[0] == "thread_lifecycle" and names[-1] == "thread_lifecycle"
    assert names.index("hitl_request") < names.index("hitl_resolved") < names.index("tool_result")
    assert "yes, still here" in reply(events)
    assert events[-1].data["phase"] == "completed"
