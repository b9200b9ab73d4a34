"""A real MCP server (the mcp SDK's MCPServer, streamable HTTP) on 127.0.0.1 in a thread, guarded
like a real OAuth-protected resource: a static API key or an access token the fake provider
issued, else 401 with RFC 9728 metadata. `python tests/assets/fake_mcp.py` serves the same
tools over stdio."""

import asyncio
import json
import socket
import sys
import threading
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

API_KEY = "sk-test-static-key-7f3a9c"


def build_server(name: str) -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Adds two integers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Repeats the text."""
        return text

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleeps, then answers."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ToolError(reason)

    @server.tool()
    async def grow(name: str, ctx: Context) -> str:
        """Adds a tool called `name`, and tells listening clients that the tool list changed."""
        server.add_tool(lambda: name, name=name, description="A tool added at run time.")
        await ctx.notify_tools_changed()
        return f"added {name}"

    return server


def _guard(app, is_allowed, metadata: dict):
    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            if scope["path"].startswith("/.well-known/oauth-protected-resource"):
                body = json.dumps(metadata).encode()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                return await send({"type": "http.response.body", "body": body})
            if scope["path"] == "/broken":
                await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
                return await send({"type": "http.response.body", "body": b"internal error"})
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
            if not is_allowed(authorization.removeprefix("Bearer ")):
                challenge = f'Bearer resource_metadata="{metadata["resource"]}"'.encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"www-authenticate", challenge), (b"content-type", b"application/json")]})
                return await send({"type": "http.response.body", "body": b'{"error": "invalid_token"}'})
        await app(scope, receive, send)

    return guarded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeMcpServer:
    """Streamable HTTP at `url` (…/mcp); the provider's tokens or API_KEY are accepted."""

    def __init__(self, provider):
        import uvicorn

        port, sse_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{port}/mcp"
        self.broken_url = f"http://127.0.0.1:{port}/broken"  # answers 500 to everything
        self.api_key = API_KEY
        metadata = {"resource": self.url, "authorization_servers": [provider.url]}
        app = build_server("fake-http").streamable_http_app(host="127.0.0.1")
        allowed = lambda token: token == API_KEY or provider.state.active_access_token(token)  # noqa: E731
        config = uvicorn.Config(_guard(app, allowed, metadata), host="127.0.0.1", port=port, log_level="warning",
                                timeout_graceful_shutdown=1)
        # The older SSE transport, without auth, on its own port.
        self.sse_url = f"http://127.0.0.1:{sse_port}/sse"
        sse_app = build_server("fake-sse").sse_app(host="127.0.0.1")
        sse_config = uvicorn.Config(sse_app, host="127.0.0.1", port=sse_port, log_level="warning",
                                    timeout_graceful_shutdown=1)
        self.servers = [uvicorn.Server(config), uvicorn.Server(sse_config)]
        self.threads = [threading.Thread(target=server.run, daemon=True) for server in self.servers]

    def start(self) -> "FakeMcpServer":
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not all(server.started for server in self.servers) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        for thread in self.threads:
            thread.join(5)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--require-key-env":
        import os

        if os.environ.get("FAKE_MCP_KEY") != API_KEY:
            sys.exit(2)
    build_server("fake-stdio").run("stdio")
