"""The OAuth grant, driven over HTTP through real servers: connect → provider → callback."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from assets import crypto, mcp
from assets.models import Connection, ConnectionStatus, OAuthState
from tests.assets.conftest import Recorder, grant_at_provider, on_server

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def start(engine: Recorder, **body) -> dict:
    response = engine.request("POST", "/assets/connect", json={"server_name": "tools-oauth", **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_whole_flow_connects_lists_and_calls_tools_then_revokes_on_disconnect(engine, engine_pair, provider):
    first, second = engine_pair
    registrations = provider.state.registrations
    started = start(engine)
    assert started["status"] == "pending_oauth" and started["ref_id"].startswith("conn-")
    query = parse_qs(urlsplit(started["auth_url"]).query)
    assert started["auth_url"].startswith(f"{provider.url}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["resource"] == [Connection.objects.get().server.url]
    assert query["redirect_uri"] == [f"{first.url}/assets/oauth/callback"]
    assert provider.state.registrations == registrations + 1  # RFC 7591: no client id was configured

    # The browser comes back to the other server, without an X-Engine-Key.
    callback = requests.get(on_server(grant_at_provider(started["auth_url"]), second), timeout=10)
    Recorder.bodies.append(callback.text)
    assert callback.status_code == 200, callback.text
    body = callback.json()
    assert body["ref_id"] == started["ref_id"] and body["status"] == "connected"
    assert body["scopes"] == ["tools:read", "tools:call"] and body["expires_at"]
    stored = Connection.objects.get(ref_id=started["ref_id"])
    assert stored.status == ConnectionStatus.CONNECTED and stored.auth_url == ""
    tokens = crypto.unseal(stored.secrets_sealed)
    assert tokens["access_token"] in provider.state.access and tokens["refresh_token"] in provider.state.refresh

    assert "echo" in {tool["name"] for tool in mcp.list_tools(started["ref_id"])}
    assert mcp.call_tool(started["ref_id"], "add", {"a": 20, "b": 22}, timeout=10)["content"][0]["text"] == "42"

    listed = engine.request("GET", "/assets/connections").json()
    assert [(c["ref_id"], c["status"]) for c in listed] == [(started["ref_id"], "connected")]

    deleted = engine.request("DELETE", f"/assets/connections/{started['ref_id']}")
    assert deleted.json() == {"status": "disconnected", "ref_id": started["ref_id"], "revoked": True}
    assert tokens["refresh_token"] in provider.state.revoked and tokens["access_token"] in provider.state.revoked
    assert not provider.state.active_access_token(tokens["access_token"])
    assert Connection.objects.count() == 0 and OAuthState.objects.count() == 0


def test_the_callback_redirects_to_the_return_url_when_one_was_given(engine):
    started = start(engine, return_url="https://app.example/connected?tab=tools")
    response = requests.get(grant_at_provider(started["auth_url"]), allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"https://app.example/connected?tab=tools&ref_id={started['ref_id']}&status=connected"
    )


def test_a_browser_asking_for_html_gets_a_small_page(engine):
    started = start(engine)
    response = requests.get(grant_at_provider(started["auth_url"]), headers={"Accept": "text/html"}, timeout=10)
    Recorder.bodies.append(response.text)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert "Tools (OAuth) is connected" in response.text


def test_the_internal_post_callback_completes_the_same_way(engine):
    started = start(engine)
    query = parse_qs(urlsplit(grant_at_provider(started["auth_url"])).query)
    response = engine.request("POST", "/assets/callback", json={"state": query["state"][0], "code": query["code"][0]})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "connected"


def test_a_replayed_state_is_refused_and_the_connection_stays_connected(engine):
    started = start(engine)
    callback_url = grant_at_provider(started["auth_url"])
    assert engine.request("GET", callback_url).status_code == 200
    replay = engine.request("GET", callback_url)
    assert replay.status_code == 400 and replay.json()["error"] == "oauth_state_used"
    assert Connection.objects.get().status == ConnectionStatus.CONNECTED


def test_an_unknown_state_is_refused_and_nothing_changes(engine):
    started = start(engine)
    response = engine.request("GET", "/assets/oauth/callback?state=forged&code=whatever")
    assert response.status_code == 400 and response.json()["error"] == "oauth_state_unknown"
    assert Connection.objects.get().status == ConnectionStatus.PENDING_OAUTH
    assert OAuthState.objects.get().used_at is None
    assert Connection.objects.get().ref_id == started["ref_id"]


def test_an_expired_state_is_refused_and_the_connection_is_marked_failed(engine):
    start(engine)
    OAuthState.objects.update(expires_at="2000-01-01T00:00:00Z")
    state = OAuthState.objects.get().state
    response = engine.request("GET", f"/assets/oauth/callback?state={state}&code=anything")
    assert response.status_code == 400 and response.json()["error"] == "oauth_state_expired"
    listed = engine.request("GET", "/assets/connections").json()
    assert listed[0]["status"] == "failed" and listed[0]["error"] == "oauth_state_expired"


def test_access_denied_at_the_provider_is_an_error_and_the_connection_is_marked_failed(engine, provider):
    start(engine)
    provider.state.deny_next = True
    callback_url = grant_at_provider(Connection.objects.get().auth_url)
    assert "error=access_denied" in callback_url
    response = engine.request("GET", callback_url)
    assert response.status_code == 400 and response.json()["error"] == "oauth_access_denied"
    stored = Connection.objects.get()
    assert stored.status == ConnectionStatus.FAILED and stored.last_error == "oauth_access_denied"
    assert "access_token" not in crypto.unseal(stored.secrets_sealed)


def test_a_code_the_provider_will_not_exchange_is_a_502_and_the_connection_is_marked_failed(engine):
    started = start(engine)
    state = parse_qs(urlsplit(started["auth_url"]).query)["state"][0]
    response = engine.request("GET", f"/assets/oauth/callback?state={state}&code=not-a-real-code")
    assert response.status_code == 502 and response.json()["error"] == "oauth_exchange_failed"
    stored = Connection.objects.get()
    assert stored.status == ConnectionStatus.FAILED and stored.last_error == "oauth_exchange_failed"
    assert "access_token" not in crypto.unseal(stored.secrets_sealed)


def test_a_callback_without_a_state_is_a_validation_error(engine):
    response = engine.request("GET", "/assets/oauth/callback?code=abc")
    assert response.status_code == 400 and response.json()["error"] == "validation_error"
    assert "state" in response.json()["details"]
