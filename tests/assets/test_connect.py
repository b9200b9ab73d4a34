"""GET /assets/servers, POST /assets/connect, GET /assets/connections, DELETE, through the real
gunicorn+gevent server: the MCP client runs inside a gevent worker here."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assets import crypto
from assets.models import Connection, ConnectionStatus
from engine.keys import create_key
from tests.assets.conftest import Recorder
from tests.live_server import EngineServer

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def test_it_lists_the_catalog_in_the_spec_shape(engine):
    response = engine.request("GET", "/assets/servers")
    assert response.status_code == 200
    assert {"server_name": "tools-key", "display_name": "Tools (key)", "transport": "streamable_http",
            "auth_method": "api_key", "status": "available"} in response.json()
    assert len(response.json()) == 6


def test_an_api_key_server_connects_at_once_after_its_tools_were_listed_under_gevent(engine, mcp_http):
    response = engine.request("POST", "/assets/connect", json={"server_name": "tools-key",
                                                                "server_config": {"api_key": mcp_http.api_key}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "connected" and body["ref_id"].startswith("conn-") and "auth_url" not in body
    stored = Connection.objects.get(ref_id=body["ref_id"])
    assert stored.status == ConnectionStatus.CONNECTED
    assert crypto.unseal(stored.secrets_sealed) == {"api_key": mcp_http.api_key}
    assert mcp_http.api_key not in stored.secrets_sealed

    listed = engine.request("GET", "/assets/connections").json()
    assert listed == [{"ref_id": body["ref_id"], "server_name": "tools-key", "status": "connected",
                       "scopes": [], "expires_at": None}]


def test_a_stdio_server_connects_from_inside_a_gevent_worker(engine):
    response = engine.request("POST", "/assets/connect", json={"server_name": "tools-stdio"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "connected"


def test_twenty_concurrent_connects_through_one_gevent_worker_all_succeed(engine, mcp_http):
    def connect(n: int) -> int:
        return engine.request("POST", "/assets/connect", json={"server_name": "tools-key",
                                                               "server_config": {"api_key": mcp_http.api_key}}).text[:150]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(connect, range(20)))
    elapsed = time.monotonic() - started
    assert all("connected" in s for s in statuses), statuses
    assert Connection.objects.count() == 20
    print(f"20 concurrent connects (each lists an MCP server's tools) took {elapsed:.2f}s")


def test_a_wrong_api_key_is_refused_and_nothing_is_stored(engine):
    response = engine.request("POST", "/assets/connect", json={"server_name": "tools-key",
                                                                "server_config": {"api_key": "sk-wrong"}})
    assert response.status_code == 400
    assert response.json()["error"] == "api_key_rejected"
    assert Connection.objects.count() == 0


def test_a_missing_api_key_is_a_400_and_nothing_is_stored(engine):
    response = engine.request("POST", "/assets/connect", json={"server_name": "tools-key", "server_config": None})
    assert response.status_code == 400 and response.json()["error"] == "api_key_required"
    assert Connection.objects.count() == 0


def test_an_unreachable_server_is_a_502_mcp_unreachable_and_nothing_is_stored(engine):
    response = engine.request("POST", "/assets/connect", json={"server_name": "gone"})
    assert response.status_code == 502
    assert response.json()["error"] == "mcp_unreachable"
    assert Connection.objects.count() == 0


def test_an_oauth_server_whose_metadata_cannot_be_found_is_a_502_and_nothing_is_stored(engine):
    response = engine.request("POST", "/assets/connect", json={"server_name": "gone-oauth"})
    assert response.status_code == 502
    assert response.json()["error"] == "oauth_discovery_failed"
    assert Connection.objects.count() == 0


def test_an_unknown_server_is_a_404(engine):
    response = engine.request("POST", "/assets/connect", json={"server_name": "nope"})
    assert response.status_code == 404 and response.json()["error"] == "server_not_found"


def test_the_endpoints_need_a_key(engine_pair, servers):
    for method, path in (("GET", "/assets/servers"), ("GET", "/assets/connections"), ("POST", "/assets/connect"),
                         ("POST", "/assets/callback"), ("DELETE", "/assets/connections/conn-x")):
        response = Recorder(engine_pair[0].url, "").request(method, path, json={})
        assert response.status_code == 401 and response.json()["error"] == "missing_key", path


def test_deleting_a_key_connection_removes_it(engine, mcp_http):
    ref = engine.request("POST", "/assets/connect", json={"server_name": "tools-key",
                                                           "server_config": {"api_key": mcp_http.api_key}}).json()["ref_id"]
    response = engine.request("DELETE", f"/assets/connections/{ref}")
    assert response.status_code == 200
    assert response.json() == {"status": "disconnected", "ref_id": ref, "revoked": False}
    assert not Connection.objects.filter(ref_id=ref).exists()
    again = engine.request("DELETE", f"/assets/connections/{ref}")
    assert again.status_code == 404 and again.json()["error"] == "connection_not_found"


def _children_running(command_fragment: str) -> set[int]:
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if command_fragment in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.add(int(proc.name))
            except OSError:
                continue  # the process ended while we looked
    return found


def test_stopping_the_server_ends_the_stdio_servers_its_worker_started(servers, django_db_blocker):
    from tests.assets.conftest import _server_env

    before = _children_running("fake_mcp.py")
    server = EngineServer(env=_server_env()).start()
    try:
        key = create_key(name="stdio-exit")[1]
        response = Recorder(server.url, key).request("POST", "/assets/connect", json={"server_name": "tools-stdio"})
        assert response.json()["status"] == "connected"
        started = _children_running("fake_mcp.py") - before
        assert len(started) == 1
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    while _children_running("fake_mcp.py") & started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children_running("fake_mcp.py") & started
    assert "MCP loop stopped; its sessions are closed" in server.log()
    assert "Traceback" not in server.log()
