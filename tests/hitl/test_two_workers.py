"""An answer posted to another worker resumes the run at once (PostgreSQL LISTEN/NOTIFY)."""

import time
import uuid

import pytest
from django.conf import settings

from tests.hitl.conftest import TurnInBackground, respond, wait_for_pending
from tests.live_server import EngineServer

pytestmark = [
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="cross-process wake-ups use PostgreSQL LISTEN/NOTIFY"),
]


def test_an_answer_taken_by_another_worker_resumes_the_run_promptly(key):
    slow_heartbeats = {"ENGINE_HEARTBEAT_SECONDS": "30"}
    with EngineServer(env=slow_heartbeats) as asking_side, EngineServer(env=slow_heartbeats) as answering_side:
        task_id = f"task-{uuid.uuid4().hex[:8]}"
        turn = TurnInBackground(asking_side, key, {"message": '/tool ask_user {"question": "Go on?"}', "task_id": task_id, "direct": True})
        wait_for_pending(asking_side, key, task_id)
        answered_at = time.monotonic()
        assert respond(answering_side, key, task_id=task_id, answer="go on").status_code == 200
        while not any(e.event == "hitl_resolved" for e in turn.events):
            assert time.monotonic() - answered_at < 2, "the stream on the other worker never heard of the answer"
            time.sleep(0.005)
        latency = time.monotonic() - answered_at
        events = turn.finish()
    assert latency < 1.0
    assert events[-1].data["phase"] == "completed"
    assert "go on" in "".join(e.data["text"] for e in events if e.event == "text_delta")
