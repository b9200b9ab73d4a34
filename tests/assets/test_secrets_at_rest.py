"""Credentials are encrypted at rest, rotatable, and never leave: not in responses, logs,
the admin or an export. The last test scans everything this run produced."""

import io

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from assets import crypto, mcp
from assets.errors import SecretsUnreadable
from assets.models import Connection
from tests.assets.conftest import LogLines, Recorder

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def test_sealed_values_open_only_with_a_configured_key_and_survive_rotation(servers):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(ENGINE_SECRETS_KEYS=[old]):
        connection = Connection.objects.create(server=servers["key"], status="connected",
                                               secrets_sealed=crypto.seal({"api_key": "sk-rotate-me"}))
    with override_settings(ENGINE_SECRETS_KEYS=[new, old]):
        assert crypto.unseal(Connection.objects.get().secrets_sealed) == {"api_key": "sk-rotate-me"}
        call_command("rotate_asset_secrets", stdout=io.StringIO())
    with override_settings(ENGINE_SECRETS_KEYS=[new]):
        assert crypto.unseal(Connection.objects.get().secrets_sealed) == {"api_key": "sk-rotate-me"}
    with override_settings(ENGINE_SECRETS_KEYS=[Fernet.generate_key().decode()]):
        with pytest.raises(SecretsUnreadable):
            crypto.unseal(Connection.objects.get(ref_id=connection.ref_id).secrets_sealed)


def test_no_token_key_or_client_secret_appears_in_any_response_log_admin_page_or_export(
    oauth_connection, engine, engine_pair, provider, mcp_http
):
    # Exercise every path once more in this test, so the scan has something to find.
    engine.request("POST", "/assets/connect", json={"server_name": "tools-key", "server_config": {"api_key": mcp_http.api_key}})
    engine.request("GET", "/assets/connections")
    mcp.call_tool(oauth_connection, "echo", {"text": "hello"}, timeout=10)
    User.objects.create_superuser("op", "op@example.com", "pw-for-tests")
    admin = Client()
    admin.login(username="op", password="pw-for-tests")
    pages = [admin.get(f"/django-admin/assets/connection/{c.ref_id}/change/") for c in Connection.objects.all()]
    pages += [admin.get("/django-admin/assets/connection/"), admin.get("/django-admin/assets/mcpserver/")]
    pages += [admin.get(f"/django-admin/assets/mcpserver/{servers_id}/change/")
              for servers_id in Connection.objects.values_list("server_id", flat=True)]
    assert all(page.status_code == 200 for page in pages)
    export = io.StringIO()
    call_command("dumpdata", "assets", stdout=export)

    secrets = set(provider.state.issued) | {c["secret"] for c in provider.state.clients.values()} | {mcp_http.api_key}
    assert len(provider.state.issued) >= 2
    haystacks = {
        "responses": "\n".join(Recorder.bodies),
        "server logs": "\n".join(server.log() for server in engine_pair),
        "test process logs": "\n".join(LogLines.lines),
        "admin pages": "\n".join(page.content.decode() for page in pages),
        "export": export.getvalue(),
    }
    for name, text in haystacks.items():
        leaked = [secret[:6] + "…" for secret in secrets if secret in text]
        assert leaked == [], f"{name} leaked {leaked}"
