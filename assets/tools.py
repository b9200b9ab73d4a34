"""MCP tools in the agent's tool registry: every tool of every connected server, named
`<server>__<tool>`, with the server's JSON schema and a default `ask` policy. Calls go through
the MCP client with the connection's credentials; every failure becomes a tool error for the
model, and a connection that needs the user to sign in again is announced on the stream."""

import logging

from django.conf import settings

from assets import mcp
from assets.errors import MCP_CALL_ERRORS, ConnectionNeedsReauth
from assets.models import Connection, ConnectionStatus, McpServer
from engine.db import fetch_instances
from engine.worker_cache import cached
from execution.tools import Tool, ToolContext, ToolError, register_provider

logger = logging.getLogger(__name__)
SEPARATOR = "__"
NAME_LIMIT = 64  # what model providers accept for a tool name


def connected_tools() -> list[Tool]:
    tools = []
    # Every turn lists its tools: its worker's copy of the connections (engine.worker_cache).
    for connection in cached("connections", _connected):
        try:
            listed = mcp.list_tools(connection.ref_id)
        except MCP_CALL_ERRORS as unreachable:
            logger.warning("leaving out the tools of %s: %s", connection.server.name, unreachable.message)
            continue
        tools += [_as_tool(connection, spec) for spec in listed if len(connection.server.name) + 2 + len(spec["name"]) <= NAME_LIMIT]
    return tools


def _connected() -> list[Connection]:
    """The connected connections, each with its server. With none, one plain statement (engine.db)."""
    connected = fetch_instances(Connection, None, "status = %s", [ConnectionStatus.CONNECTED], tail="ORDER BY created_at")
    servers = McpServer.objects.in_bulk({connection.server_id for connection in connected}) if connected else {}
    # A server deleted (with its connections) between the two reads is left out.
    connected = [connection for connection in connected if connection.server_id in servers]
    for connection in connected:
        connection.server = servers[connection.server_id]
    return connected


def _as_tool(connection: Connection, spec: dict) -> Tool:
    def call(tool_input: dict, context: ToolContext) -> dict:
        try:
            result = mcp.call_tool(connection.ref_id, spec["name"], tool_input, timeout=settings.ENGINE_MCP_CALL_TIMEOUT)
        except ConnectionNeedsReauth as reauth:
            fresh = Connection.objects.filter(ref_id=connection.ref_id).values_list("auth_url", flat=True).first()
            context.emit("connection_needs_reauth", server_name=connection.server.name, ref_id=connection.ref_id, auth_url=fresh or None)
            raise ToolError(f"{reauth.message} The user must sign in to {connection.server.name} again.") from None
        except MCP_CALL_ERRORS as failed:
            raise ToolError(f"{connection.server.name}: {failed.message}") from None
        if result.get("is_error"):
            text = " ".join(block.get("text", "") for block in result.get("content", []) if isinstance(block, dict))
            raise ToolError(text or f"{spec['name']} failed on {connection.server.name}.")
        return result

    return Tool(
        name=f"{connection.server.name}{SEPARATOR}{spec['name']}",
        description=f"[{connection.server.display_name}] {spec.get('description') or spec['name']}",
        input_schema=spec.get("input_schema") or {"type": "object"},
        run=call,
        policy="ask",
    )


register_provider(connected_tools, prefix_marker=SEPARATOR)
