"""Token refresh: before expiry, one at a time per connection, and re-authorization when the
provider refuses."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from assets import crypto, mcp, services
from assets.errors import ConnectionNeedsReauth
from assets.models import Connection, ConnectionStatus
from tests.assets.conftest import grant_at_provider

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def expire(ref_id: str) -> None:
    Connection.objects.filter(ref_id=ref_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def tokens_of(ref_id: str) -> dict:
    return crypto.unseal(Connection.objects.get(ref_id=ref_id).secrets_sealed)


def test_two_concurrent_refreshes_of_one_connection_make_exactly_one_token_request(oauth_connection, provider):
    before = tokens_of(oauth_connection)
    expire(oauth_connection)
    provider.state.refresh_delay = 0.5  # both callers are waiting while the first refresh is in flight
    requests_before = provider.state.token_requests.count("refresh_token")
    seen, failures = [], []

    def refresh() -> None:
        try:
            seen.append(crypto.unseal(services.ensure_fresh_token(oauth_connection).secrets_sealed)["access_token"])
        except Exception as exc:  # collected and asserted below
            failures.append(exc)
        finally:
            db_connection.close()

    try:
        threads = [threading.Thread(target=refresh) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        provider.state.refresh_delay = 0.0
    assert failures == []
    assert provider.state.token_requests.count("refresh_token") == requests_before + 1
    after = tokens_of(oauth_connection)
    assert seen == [after["access_token"]] * 2
    assert after["access_token"] != before["access_token"] and after["refresh_token"] != before["refresh_token"]
    assert Connection.objects.get(ref_id=oauth_connection).expires_at > timezone.now() + timedelta(minutes=30)


def test_a_fresh_token_is_not_refreshed(oauth_connection, provider):
    requests_before = len(provider.state.token_requests)
    services.ensure_fresh_token(oauth_connection)
    assert len(provider.state.token_requests) == requests_before


def test_a_tool_call_with_an_expiring_token_refreshes_it_first(oauth_connection, provider):
    mcp.list_tools(oauth_connection)
    old = tokens_of(oauth_connection)["access_token"]
    expire(oauth_connection)
    result = mcp.call_tool(oauth_connection, "echo", {"text": "after refresh"}, timeout=10)
    assert result["content"][0]["text"] == "after refresh"
    assert tokens_of(oauth_connection)["access_token"] != old


def test_a_rejected_refresh_needs_reauth_with_a_fresh_auth_url_and_reconnects(oauth_connection, engine, provider):
    with provider.state.lock:
        provider.state.refresh.clear()  # the provider forgot every grant
    expire(oauth_connection)
    with pytest.raises(ConnectionNeedsReauth) as raised:
        mcp.call_tool(oauth_connection, "echo", {"text": "x"}, timeout=10)
    assert raised.value.code == "connection_needs_reauth"
    listed = engine.request("GET", "/assets/connections").json()
    assert listed[0]["status"] == "needs_reauth" and listed[0]["error"] == "refresh_rejected"
    assert listed[0]["auth_url"].startswith(f"{provider.url}/authorize?")

    callback = engine.request("GET", grant_at_provider(listed[0]["auth_url"]))
    assert callback.status_code == 200 and callback.json()["status"] == "connected"
    assert Connection.objects.get(ref_id=oauth_connection).status == ConnectionStatus.CONNECTED
    assert mcp.call_tool(oauth_connection, "echo", {"text": "back"}, timeout=10)["content"][0]["text"] == "back"


def test_a_token_the_server_refuses_before_its_expiry_is_refreshed_once_and_the_call_goes_through(
    oauth_connection, provider
):
    revoked = tokens_of(oauth_connection)["access_token"]
    with provider.state.lock:
        provider.state.access.pop(revoked)  # revoked at the provider, unknown to us
    refreshes = provider.state.token_requests.count("refresh_token")
    assert mcp.call_tool(oauth_connection, "echo", {"text": "retried"}, timeout=10)["content"][0]["text"] == "retried"
    assert provider.state.token_requests.count("refresh_token") == refreshes + 1
    assert tokens_of(oauth_connection)["access_token"] != revoked
