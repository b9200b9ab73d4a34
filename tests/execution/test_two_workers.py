"""Readers in one process receive the live events of a run executing in another."""

import threading
import time
import uuid

import pytest
from django.conf import settings

from tests.live_server import EngineServer
from tests.sse import execute, open_stream, parse_sse, without_heartbeats

pytestmark = [
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="cross-process wake-ups use PostgreSQL LISTEN/NOTIFY"),
]


def test_a_reader_on_one_worker_receives_live_events_of_a_run_on_another(key):
    task_id = f"task-{uuid.uuid4().hex[:8]}"
    # Heartbeats every 30 s: if the wake-up did not cross processes, the reader would stall.
    slow_heartbeats = {"ENGINE_HEARTBEAT_SECONDS": "30"}
    with EngineServer(env=slow_heartbeats) as runner_side, EngineServer(env=slow_heartbeats) as reader_side:
        execute(runner_side, key, {"message": "warm up", "task_id": task_id, "direct": True})
        received: list[tuple[float, object]] = []
        turn = threading.Thread(
            target=lambda: received.extend((time.monotonic(), e) for e in execute(
                runner_side, key, {"message": "/sleep 0.5 /stream 30 /pace 20", "task_id": task_id, "direct": True}))
        )
        started = time.monotonic()
        turn.start()
        time.sleep(0.2)  # the turn is running (asleep) on the first server
        response = open_stream("GET", f"{reader_side.url}/execute/replay", key, params={"task_id": task_id, "after": int(time.time() * 1000)})
        tail = []
        for event in parse_sse(response.iter_lines(chunk_size=None)):
            tail.append((time.monotonic(), event))
        response.close()
        turn.join(timeout=20)

    tail_events = without_heartbeats([e for _, e in tail])
    direct_events = without_heartbeats([e for _, e in received])
    assert [e.id for e in tail_events] == [e.id for e in direct_events][-len(tail_events):]
    assert sum(1 for e in tail_events if e.event == "text_delta") == 30
    assert tail_events[-1].data["phase"] == "completed"
    # The reader saw the deltas while they were produced (30 deltas paced 20 ms apart), not at the end.
    first_delta_at = next(t for t, e in tail if e.event == "text_delta")
    last_delta_at = [t for t, e in tail if e.event == "text_delta"][-1]
    assert last_delta_at - first_delta_at > 0.3
    assert last_delta_at - started < 10
