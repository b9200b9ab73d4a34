"""The MCP client API for the rest of the Engine (the tool registry, POST /rpc, connect).

Safe to call from many greenlets of a gunicorn gevent worker, and from plain threads: the work
runs on the worker's MCP loop thread (`assets.mcp_runtime`); the caller waits cooperatively.
Every failure is one of `assets.errors.MCP_CALL_ERRORS`, never an SDK exception.

    list_tools(connection_ref) -> [{"name", "description", "input_schema"}]
    call_tool(connection_ref, tool, arguments, timeout) -> {"content", "structured_content", "is_error"}
"""

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as db_connection

from assets import crypto, mcp_runtime
from assets.errors import ConnectionNeedsReauth, ConnectionNotConnected, McpAuthRejected
from assets.models import AuthMethod, Connection, ConnectionStatus

# Beyond the operation's own timeout, for the hop to the loop thread and back.
HANDOFF_MARGIN_SECONDS = 2.0


@dataclass(frozen=True)
class McpTarget:
    """Everything the loop thread needs to reach one connection's server (secrets included:
    it never leaves the process and is never logged)."""

    key: str
    transport: str
    url: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]

    @property
    def fingerprint(self) -> str:
        """Changes when the session must be reopened; a new bearer token is not such a change."""
        parts = [self.transport, self.url, *self.command, *(f"{k}={v}" for k, v in self.env)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def __repr__(self) -> str:
        return f"McpTarget({self.key}, {self.transport})"


def target_for(connection: Connection) -> McpTarget:
    server = connection.server
    stored = crypto.unseal(connection.secrets_sealed)
    headers: dict[str, str] = {}
    env = dict(server.env)
    if server.auth_method == AuthMethod.API_KEY and stored.get("api_key"):
        if server.transport == "stdio":
            env[server.api_key_env or "MCP_API_KEY"] = stored["api_key"]
        elif server.api_key_header.lower() == "authorization":
            headers["Authorization"] = f"Bearer {stored['api_key']}"
        else:
            headers[server.api_key_header] = stored["api_key"]
    elif server.auth_method == AuthMethod.OAUTH and stored.get("access_token"):
        headers["Authorization"] = f"Bearer {stored['access_token']}"
    return McpTarget(
        key=connection.ref_id, transport=server.transport, url=server.url, command=tuple(server.command),
        env=tuple(sorted(env.items())), headers=tuple(sorted(headers.items())),
    )


def _usable_connection(connection_ref: str) -> Connection:
    from assets.services import ensure_fresh_token  # services imports this module

    connection = ensure_fresh_token(connection_ref)
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        raise ConnectionNeedsReauth()
    if connection.status != ConnectionStatus.CONNECTED:
        raise ConnectionNotConnected()
    return connection


def _with_current_credentials(connection_ref: str, operation: str, *args, timeout: float):
    """Runs the operation; when the server refuses an OAuth token before its expiry (revoked,
    or the provider shortened its life), refreshes it once and tries again."""
    connection = _usable_connection(connection_ref)
    target = target_for(connection)
    try:
        return _run(operation, target, *args, timeout=timeout)
    except McpAuthRejected:
        if connection.server.auth_method != AuthMethod.OAUTH:
            raise
    from assets.services import refresh_token_once

    refused = crypto.unseal(connection.secrets_sealed).get("access_token", "")
    connection = refresh_token_once(connection_ref, stale_access_token=refused)
    return _run(operation, target_for(connection), *args, timeout=timeout)


def _run(operation: str, *args, timeout: float):
    # A tool call can take minutes: the caller's pooled database connection goes back meanwhile,
    # unless it is inside a transaction (notes: serving-under-gevent, facts 5 and 6).
    if db_connection.settings_dict["OPTIONS"].get("pool") and not db_connection.in_atomic_block:
        db_connection.close()
    return mcp_runtime.runtime().run(operation, *args, timeout=timeout + HANDOFF_MARGIN_SECONDS)


def list_tools(connection_ref: str) -> list[dict]:
    """The tools of the connection's server: `[{"name", "description", "input_schema"}]`.
    Cached per connection in this worker for ENGINE_MCP_TOOLS_TTL_SECONDS, and dropped as soon
    as the server announces `notifications/tools/list_changed` or the session reconnects.
    Refreshes the OAuth token first when it is about to expire, and once more if the server
    refuses it. Raises MCP_CALL_ERRORS."""
    return _with_current_credentials(connection_ref, "list_tools", timeout=settings.ENGINE_MCP_CONNECT_TIMEOUT * 2)


def call_tool(connection_ref: str, tool: str, arguments: dict, timeout: float | None = None) -> dict:
    """Calls one tool: `{"content": [MCP content blocks as JSON], "structured_content": ...,
    "is_error": bool}`. A tool that reports failure (`is_error`) is a result, not an exception.
    `timeout` (default ENGINE_MCP_CALL_TIMEOUT) bounds the call; on expiry the server gets a
    cancellation and McpTimeout is raised. Raises MCP_CALL_ERRORS, never anything else."""
    timeout = settings.ENGINE_MCP_CALL_TIMEOUT if timeout is None else timeout
    return _with_current_credentials(connection_ref, "call_tool", tool, dict(arguments or {}), timeout,
                                     timeout=timeout + settings.ENGINE_MCP_CONNECT_TIMEOUT)


def probe_tools(connection: Connection) -> list[dict]:
    """Lists the tools of an unsaved connection, to check that it works before it is stored."""
    return _run("list_tools", target_for(connection), timeout=settings.ENGINE_MCP_CONNECT_TIMEOUT * 2)


def forget(connection_ref: str) -> None:
    """Closes this worker's session for the connection, if any (other workers' sessions fail
    on their next call and reconnect with the new credentials)."""
    if mcp_runtime.has_runtime():
        _run("close", connection_ref, timeout=5.0)
