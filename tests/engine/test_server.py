"""The real gunicorn + gevent server, over HTTP."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from engine.keys import create_key
from engine.models import KeyScope
from tests.live_server import EngineServer

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def test_the_real_server_serves_health_and_authenticated_requests(engine_server):
    health = requests.get(f"{engine_server.url}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["checks"] == {"database": "ok", "migrations": "ok"}
    assert health.json()["version"] == "0.1.0"

    _, raw = create_key(name="smoke", scope=KeyScope.ADMIN)
    keys = requests.get(f"{engine_server.url}/admin/keys", headers={"X-Engine-Key": raw}, timeout=5)
    assert keys.status_code == 200
    assert [key["name"] for key in keys.json()] == ["smoke"]

    refused = requests.get(f"{engine_server.url}/admin/keys", timeout=5)
    assert refused.status_code == 401 and refused.json()["error"] == "missing_key"
    missing = requests.get(f"{engine_server.url}/nowhere", headers={"X-Engine-Key": raw}, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_the_server_never_logs_a_key_in_clear(engine_server):
    _, raw = create_key(name="secret-scan", scope=KeyScope.USER)
    headers = {"X-Engine-Key": raw}
    requests.post(f"{engine_server.url}/feedback", json={"kind": "rating", "rating": 2}, headers=headers, timeout=5)
    requests.get(f"{engine_server.url}/admin/keys", headers=headers, timeout=5)
    requests.get(f"{engine_server.url}/admin/keys", headers={"X-Engine-Key": raw + "tampered"}, timeout=5)
    log = engine_server.log()
    assert '"POST /feedback HTTP/1.1" 201' in log
    assert raw not in log and raw[12:] not in log


def test_many_concurrent_database_requests_on_one_worker_all_succeed(engine_server):
    _, raw = create_key(name="load", scope=KeyScope.USER)

    def send_feedback(n: int) -> int:
        response = requests.post(
            f"{engine_server.url}/feedback",
            json={"kind": "rating", "rating": 1 + n % 5},
            headers={"X-Engine-Key": raw},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(pool.map(send_feedback, range(120)))
    assert statuses == [201] * 120
    from adminops.models import Feedback

    assert Feedback.objects.count() == 120


def test_health_is_503_in_the_error_shape_when_the_database_is_unreachable(tmp_path):
    for database_url in (
        "postgres://postgres@127.0.0.1:1/unreachable",
        f"sqlite:///{tmp_path}/no/such/dir/engine.sqlite3",
    ):
        server = EngineServer(database_url=database_url, env={"ENGINE_DB_POOL_TIMEOUT": "1"})
        server.start(expect_healthy=False)
        try:
            response = requests.get(f"{server.url}/health", timeout=10)
        finally:
            server.stop()
        assert response.status_code == 503, database_url
        body = response.json()
        assert body["error"] == "service_unavailable"
        assert body["checks"]["database"] == "unreachable"
        assert "127.0.0.1:1" not in response.text and "no/such/dir" not in response.text


def test_health_is_503_when_migrations_are_not_applied(tmp_path):
    server = EngineServer(database_url=f"sqlite:///{tmp_path}/fresh.sqlite3").start(expect_healthy=False)
    try:
        response = requests.get(f"{server.url}/health", timeout=10)
    finally:
        server.stop()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "migrations": "pending"}
