import threading
import time

import pytest
import requests

from engine.keys import create_key
from engine.models import KeyScope
from tests.sse import execute


@pytest.fixture
def key(transactional_db) -> str:
    return create_key(name="human", scope=KeyScope.USER)[1]


class TurnInBackground:
    """Streams one turn from a thread, so the test can answer the turn's questions meanwhile."""

    def __init__(self, server, key: str, body: dict):
        self.events: list = []
        self.dropped = False
        self.thread = threading.Thread(target=self._stream, args=(server, key, body), daemon=True)
        self.thread.start()

    def _stream(self, server, key: str, body: dict) -> None:
        try:
            self.events.extend(execute(server, key, body))
        except requests.RequestException:
            self.dropped = True  # the worker serving the stream died (a test kills it on purpose)

    def finish(self, timeout: float = 20) -> list:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the turn did not finish"
        return [e for e in self.events if e.event != "heartbeat"]


def wait_for_pending(server, key: str, task_id: str, count: int = 1, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = requests.get(f"{server.url}/hitl/pending", params={"task_id": task_id}, headers={"X-Engine-Key": key}, timeout=5).json()["pending"]
        if len(pending) >= count:
            return pending
        time.sleep(0.05)
    raise AssertionError(f"{count} pending request(s) never appeared")


def respond(server, key: str, **body) -> requests.Response:
    return requests.post(f"{server.url}/hitl/respond", json=body, headers={"X-Engine-Key": key}, timeout=10)
