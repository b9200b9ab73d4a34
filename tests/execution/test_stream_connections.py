"""Open streams hold no database connection while they wait (notes: serving-under-gevent, fact 6)."""

import threading
import time
import uuid

import pytest
import requests
from django.conf import settings

from tests.live_server import EngineServer
from tests.sse import execute, replay

pytestmark = [
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="the bounded pool is PostgreSQL's"),
]


def test_many_waiting_streams_leave_the_small_pool_to_other_requests(key):
    task_id = f"task-{uuid.uuid4().hex[:8]}"
    # Three connections, of which the appender keeps one. After each heartbeat a stream asks
    # whether the turn is still going: eight streams keeping that query's connection through
    # their waits would leave none to other requests.
    small_pool = {"ENGINE_DB_POOL_SIZE": "3", "ENGINE_DB_POOL_TIMEOUT": "2", "ENGINE_HEARTBEAT_SECONDS": "0.5"}
    with EngineServer(env=small_pool) as server:
        turn: list = []
        runner = threading.Thread(target=lambda: turn.extend(execute(
            server, key, {"message": "/sleep 4 /stream 5", "task_id": task_id, "direct": True})))
        runner.start()
        time.sleep(0.3)
        tails: list[list] = [[] for _ in range(8)]
        readers = [threading.Thread(target=lambda tail=tail: tail.extend(replay(server, key, params={"task_id": task_id, "after": 0})))
                   for tail in tails]
        for reader in readers:
            reader.start()
        time.sleep(1.5)  # every stream has sent heartbeats and asked after the turn
        started = time.monotonic()
        answer = requests.post(f"{server.url}/feedback", json={"kind": "rating", "rating": 5},
                               headers={"X-Engine-Key": key}, timeout=10)
        waited = time.monotonic() - started
        runner.join(timeout=20)
        for reader in readers:
            reader.join(timeout=20)

    assert answer.status_code == 201 and waited < 1.0, (answer.status_code, waited)
    assert turn[-1].data["phase"] == "completed"
    for tail in tails:
        assert [e.id for e in tail if e.id is not None] == [e.id for e in turn if e.id is not None]
