"""A Learning Centre batch through the real server: accepted at once, run in a greenlet of the worker."""

import time

import pytest
import requests

from adminops.models import Feedback
from engine.keys import create_key
from engine.models import KeyScope
from memory.models import KnowledgeItem
from tests.live_server import EngineServer

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def test_a_triggered_batch_runs_in_the_server_and_can_be_read_back():
    Feedback.objects.create(kind="correction", text="Espresso is what I drink, never latte.")
    key = create_key(name="operator", scope=KeyScope.ADMIN)[1]
    headers = {"X-Engine-Key": key}
    with EngineServer() as server:
        accepted = requests.post(f"{server.url}/admin/lc/trigger", json={"dry_run": False}, headers=headers, timeout=10)
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["batch_id"]
        deadline = time.monotonic() + 20
        while True:
            batch = requests.get(f"{server.url}/admin/lc/batches/{batch_id}", headers=headers, timeout=5).json()
            if batch["status"] in ("completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert batch["status"] == "completed", (batch, server.log()[-3000:])
        assert batch["applied"]["facts"]["added"] == 1
        again = requests.post(f"{server.url}/admin/lc/trigger", json={"dry_run": True}, headers=headers, timeout=10)
        assert again.status_code == 202  # the finished batch released the slot
    assert KnowledgeItem.objects.get().source == f"lc:{batch_id}"
