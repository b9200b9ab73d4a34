"""Disconnects, replay, the busy-task rule, cancel, and lost workers, on the real server."""

import os
import signal
import time
import uuid

import pytest
import requests

from execution.models import Message, Run
from tests.live_server import EngineServer
from tests.sse import execute, replay, without_heartbeats

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def task() -> str:
    return f"task-{uuid.uuid4().hex[:8]}"


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_disconnect_never_stops_the_turn_and_both_resumes_lose_nothing(engine_server, key):
    task_id = task()
    head = without_heartbeats(execute(engine_server, key, {"message": "/stream 40 /pace 25", "task_id": task_id, "direct": True}, stop_after=8))
    run_id = head[0].data["run_id"]
    assert Run.objects.get(id=run_id).status == "running"  # still going without a reader

    by_id = head + without_heartbeats(replay(engine_server, key, params={"task_id": task_id}, last_event_id=head[-1].id))
    wait_for(lambda: Run.objects.get(id=run_id).status == "completed")

    # `after` is a timestamp: ask from just before the last event we hold and drop what we have.
    by_ts = list(head)
    seen = {event.id for event in head}
    for event in without_heartbeats(replay(engine_server, key, params={"task_id": task_id, "after": head[-1].data["ts"] - 1})):
        if event.id not in seen:
            by_ts.append(event)

    uninterrupted = without_heartbeats(replay(engine_server, key, params={"task_id": task_id, "after": 0}))
    assert uninterrupted[-1].data["phase"] == "completed"
    assert [(e.id, e.event, e.data) for e in by_id] == [(e.id, e.event, e.data) for e in uninterrupted]
    assert [(e.id, e.event, e.data) for e in by_ts] == [(e.id, e.event, e.data) for e in uninterrupted]
    assert sum(1 for e in uninterrupted if e.event == "text_delta") == 40


def test_replay_without_a_task_covers_every_task(engine_server, key):
    first, second = task(), task()
    since = int(time.time() * 1000) - 1
    execute(engine_server, key, {"message": "one", "task_id": first, "direct": True})
    execute(engine_server, key, {"message": "two", "task_id": second, "direct": True})
    events = without_heartbeats(replay(engine_server, key, params={"after": since}))
    assert {first, second} <= {event.data["task_id"] for event in events}
    assert [e.id for e in events] == sorted(e.id for e in events)


def test_a_second_turn_on_a_busy_task_is_refused_unless_it_asks_to_queue(engine_server, key):
    task_id = task()
    head = execute(engine_server, key, {"message": "/sleep 1.5", "task_id": task_id, "direct": True}, stop_after=1)
    busy = requests.post(f"{engine_server.url}/execute", json={"message": "again", "task_id": task_id},
                         headers={"X-Engine-Key": key}, timeout=10)
    assert busy.status_code == 409
    assert busy.json()["error"] == "task_busy"
    assert busy.json()["active_run_id"] == head[0].data["run_id"]
    assert Message.objects.filter(task__task_id=task_id).count() == 1  # the refused turn wrote nothing

    queued = without_heartbeats(execute(engine_server, key, {"message": "after you /history", "task_id": task_id, "direct": True, "queue": True}))
    assert queued[0].data["phase"] == "started" and queued[-1].data["phase"] == "completed"
    assert Run.objects.get(id=head[0].data["run_id"]).ended_at < Run.objects.get(id=queued[0].data["run_id"]).started_at
    reply = "".join(e.data["text"] for e in queued if e.event == "text_delta")
    assert "/sleep 1.5 | after you /history" in reply


def test_cancel_stops_a_long_turn_within_a_second_and_keeps_what_it_said(engine_server, key):
    task_id = task()
    response = requests.post(f"{engine_server.url}/execute", json={"message": "/stream 500 /pace 40", "task_id": task_id, "direct": True},
                             headers={"X-Engine-Key": key}, stream=True, timeout=30)
    lines = response.iter_lines(chunk_size=None)
    wait_for(lambda: Run.objects.filter(task__task_id=task_id, status="running").exists())
    time.sleep(0.3)
    started = time.monotonic()
    cancelled = requests.post(f"{engine_server.url}/execute/cancel", json={"task_id": task_id}, headers={"X-Engine-Key": key}, timeout=10)
    assert time.monotonic() - started < 1.0
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    from tests.sse import parse_sse

    events = without_heartbeats(list(parse_sse(lines)))
    assert events[-1].event == "thread_lifecycle" and events[-1].data["phase"] == "cancelled"
    said = "".join(e.data["text"] for e in events if e.event == "text_delta")
    assert 0 < said.count("w") < 500
    run = Run.objects.get(id=events[0].data["run_id"])
    assert run.status == "cancelled"
    reply = Message.objects.get(run=run, role="assistant")
    assert reply.content[0]["text"] == said


def test_cancel_says_clearly_when_there_is_nothing_to_cancel(engine_server, key):
    headers = {"X-Engine-Key": key}
    unknown = requests.post(f"{engine_server.url}/execute/cancel", json={"task_id": "no-such-task"}, headers=headers, timeout=10)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "task_not_found")
    task_id = task()
    execute(engine_server, key, {"message": "hi", "task_id": task_id, "direct": True})
    idle = requests.post(f"{engine_server.url}/execute/cancel", json={"task_id": task_id}, headers=headers, timeout=10)
    assert (idle.status_code, idle.json()["error"]) == (404, "no_active_run")


def test_a_killed_worker_leaves_its_turn_errored_and_visible_through_replay(key):
    with EngineServer() as server:
        task_id = task()
        head = execute(server, key, {"message": "/sleep 30", "task_id": task_id, "direct": True}, stop_after=1)
        run = Run.objects.get(id=head[0].data["run_id"])
        worker_pid = int(run.worker.rpartition(":")[2])
        os.kill(worker_pid, signal.SIGKILL)
        wait_for(lambda: Run.objects.get(id=run.id).status == "errored", timeout=20)
        events = without_heartbeats(replay(server, key, params={"task_id": task_id, "after": 0}))
    assert [e.event for e in events[-2:]] == ["error", "thread_lifecycle"]
    assert events[-2].data["error"] == "RUN_LOST"
    assert events[-1].data["phase"] == "errored"
    assert Run.objects.get(id=run.id).error_code == "RUN_LOST"


def test_a_queued_turn_and_a_quiet_replay_get_their_headers_at_once(engine_server, key):
    task_id = task()
    head = execute(engine_server, key, {"message": "/sleep 3", "task_id": task_id, "direct": True}, stop_after=1)
    headers = {"X-Engine-Key": key}
    started = time.monotonic()
    queued = requests.post(f"{engine_server.url}/execute", json={"message": "next", "task_id": task_id, "queue": True},
                           headers=headers, stream=True, timeout=10)
    assert queued.status_code == 200 and time.monotonic() - started < 1.0  # not when the active turn ends
    started = time.monotonic()
    quiet = requests.get(f"{engine_server.url}/execute/replay", params={"task_id": task_id, "after": int(time.time() * 1000)},
                         headers=headers, stream=True, timeout=10)
    assert quiet.status_code == 200 and time.monotonic() - started < 0.3  # not at the first heartbeat (0.5 s here)
    assert head[0].data["phase"] == "started"
    queued.close()
    quiet.close()
