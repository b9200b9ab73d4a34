"""Catalog files → the server catalog, and GET /assets/servers."""

import json

import pytest
from django.core.management import CommandError, call_command

from assets import crypto
from assets.catalog import load_server_catalog
from assets.models import McpServer, ServerSource, ServerStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog_dir(tmp_path):
    servers = tmp_path / "mcp_servers"
    servers.mkdir()
    (servers / "slack.yaml").write_text(
        "display_name: Slack\ntransport: sse\nurl: https://mcp.slack.example/sse\n"
        "auth:\n  method: oauth\n  client_id: abc\n  client_secret: shh-secret\n  scopes: [channels:read, chat:write]\n"
    )
    (servers / "local.json").write_text(json.dumps(
        {"name": "local", "transport": "stdio", "command": ["python", "-m", "srv"], "auth": {"method": "api_key", "env": "TOKEN"}}
    ))
    (servers / "broken.yaml").write_text("transport: [unclosed\n")
    (servers / "no-url.yaml").write_text("transport: streamable_http\n")
    (servers / "notes.txt").write_text("ignored")
    return tmp_path


def test_it_loads_good_files_and_reports_each_broken_one_with_its_path_and_reason(catalog_dir):
    report = load_server_catalog(catalog_dir)
    assert sorted(report.loaded) == ["local", "slack"]
    failed = {f.path.rsplit("/", 1)[1]: f.reason for f in report.failed}
    assert set(failed) == {"broken.yaml", "no-url.yaml"}
    assert "url" in failed["no-url.yaml"]
    slack = McpServer.objects.get(name="slack")
    assert (slack.display_name, slack.transport, slack.auth_method) == ("Slack", "sse", "oauth")
    assert slack.oauth_scopes == ["channels:read", "chat:write"] and slack.source == ServerSource.CATALOG
    assert "shh-secret" not in slack.oauth_client_secret_sealed
    assert crypto.unseal(slack.oauth_client_secret_sealed) == {"client_secret": "shh-secret"}
    assert McpServer.objects.get(name="local").command == ["python", "-m", "srv"]


def test_reloading_updates_in_place_and_disables_servers_whose_file_is_gone(catalog_dir):
    load_server_catalog(catalog_dir)
    (catalog_dir / "mcp_servers" / "local.json").unlink()
    (catalog_dir / "mcp_servers" / "slack.yaml").write_text("display_name: Slack 2\ntransport: sse\nurl: https://x.example/sse\n")
    report = load_server_catalog(catalog_dir)
    assert report.loaded == ["slack"] and report.disabled == ["local"]
    assert McpServer.objects.get(name="slack").display_name == "Slack 2"
    assert McpServer.objects.get(name="local").status == ServerStatus.DISABLED
    assert McpServer.objects.count() == 2


def test_the_command_loads_and_fails_loudly_on_broken_files(catalog_dir, capsys):
    with pytest.raises(CommandError, match="2 catalog file"):
        call_command("load_mcp_catalog", "--dir", str(catalog_dir))
    out = capsys.readouterr()
    assert "loaded   slack" in out.out and "broken.yaml" in out.err
    assert McpServer.objects.count() == 2


def test_the_servers_endpoint_shows_the_catalog_without_secrets(alice, catalog_dir):
    load_server_catalog(catalog_dir)
    response = alice.get("/assets/servers")
    assert response.status_code == 200
    assert response.json() == [
        {"server_name": "local", "display_name": "Local", "transport": "stdio", "auth_method": "api_key",
         "status": "available"},
        {"server_name": "slack", "display_name": "Slack", "transport": "sse", "auth_method": "oauth",
         "status": "available"},
    ]
    assert b"shh-secret" not in response.content


def test_connecting_to_a_disabled_server_is_a_409_and_nothing_is_written(alice, catalog_dir):
    load_server_catalog(catalog_dir)
    McpServer.objects.filter(name="slack").update(status=ServerStatus.DISABLED)
    response = alice.post("/assets/connect", {"server_name": "slack"}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "server_disabled"
    from assets.models import Connection

    assert Connection.objects.count() == 0


def test_connecting_to_a_stdio_server_without_a_command_is_a_409(alice):
    McpServer.objects.create(name="empty", display_name="Empty", transport="stdio", command=[])
    response = alice.post("/assets/connect", {"server_name": "empty"}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "server_misconfigured"
