"""Reloading the catalog (skills, agents, permission rules, MCP servers) in every worker.

The reload happens here, in the worker that serves the request; then one control message tells
the other workers (PostgreSQL NOTIFY), and a generation number in the database tells any worker
that missed it (every worker on SQLite) that its copy is stale (see `skills.catalog`).
"""

import logging
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction

from assets.catalog import load_server_catalog
from assets.models import McpServer, ServerSource, ServerStatus
from execution import wakeups
from execution.permissions import configured_rules, parse_rules, reload_rules
from skills import catalog as skill_catalog
from skills.services import shadowed_custom_skills

logger = logging.getLogger(__name__)

RELOAD_CATALOG = "reload-catalog"
_SERVER_FIELDS = ("display_name", "description", "transport", "url", "command", "env", "auth_method",
                  "api_key_header", "api_key_env", "oauth_client_id", "oauth_scopes", "oauth_authorization_server", "status")


def _available_catalog_servers() -> dict[str, tuple]:
    rows = McpServer.objects.filter(source=ServerSource.CATALOG, status=ServerStatus.AVAILABLE).values("name", *_SERVER_FIELDS)
    return {row["name"]: tuple(str(row[name]) for name in _SERVER_FIELDS) for row in rows}


def _permission_file_failures() -> list[dict]:
    path = Path(settings.ENGINE_CATALOG_DIR) / "permissions.yaml"
    if not path.exists():
        return []
    try:
        parse_rules((yaml.safe_load(path.read_text()) or {}).get("rules", []), source=str(path))
    except (OSError, ValueError, yaml.YAMLError, AttributeError) as broken:
        return [{"path": str(path), "reason": str(broken) or type(broken).__name__}]
    return []


def reload_catalog() -> dict:
    """Re-reads every catalog file, installs the result in this worker, and tells the others.
    Returns {"changed": {kind: {"added", "removed", "updated"}}, "failed": [{"path", "reason"}],
    "generation"}. Changes are relative to what this worker served before."""
    before = skill_catalog.current_catalog()
    rules_before = {rule.describe() for rule in configured_rules()}
    servers_before = _available_catalog_servers()

    fresh = skill_catalog.load_catalog_files()
    reload_rules()
    rules_after = {rule.describe() for rule in configured_rules()}
    server_report = load_server_catalog()
    servers_after = _available_catalog_servers()

    with transaction.atomic():
        generation = skill_catalog.publish_new_generation()
        wakeups.notify_in_transaction(wakeups.CONTROL_CHANNEL, RELOAD_CATALOG)
    skill_catalog.install(fresh, generation)

    shadowed = [
        {"path": fresh.skills[name].path,
         "reason": f"a custom skill is also called {name!r}; the platform skill hides it (delete the custom one in the Django admin)"}
        for name in shadowed_custom_skills()
    ]
    servers = skill_catalog.diff(servers_before, servers_after)
    return {
        "changed": {
            "skills": skill_catalog.diff(before.skills, fresh.skills),
            "agents": skill_catalog.diff(before.agents, fresh.agents),
            "permission_rules": {"added": sorted(rules_after - rules_before), "removed": sorted(rules_before - rules_after), "updated": []},
            "mcp_servers": {**servers, "removed": sorted(set(servers["removed"]) | set(server_report.disabled))},
        },
        "failed": [{"path": f.path, "reason": f.reason} for f in fresh.failed]
        + _permission_file_failures()
        + [{"path": f.path, "reason": f.reason} for f in server_report.failed]
        + shadowed,
        "generation": generation,
    }


def on_control_message(payload: str) -> None:
    """Another worker reloaded the catalog: drop this worker's copy (the files are read again on
    next use). Runs in the listener greenlet, so it touches no database."""
    if payload == RELOAD_CATALOG:
        logger.info("catalog reload announced by another worker; dropping this worker's copy")
        skill_catalog.forget_loaded_catalog()
