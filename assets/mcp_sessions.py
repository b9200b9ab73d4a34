"""MCP sessions, on the MCP loop thread only (see `assets.mcp_runtime`); imports the SDK.

One long-lived client per connection, entered and exited by one dedicated asyncio task (anyio
scopes are bound to the task that entered them); other tasks call tools on it concurrently.
Connecting is single-flight per connection; a transport error drops the session and the next
call reconnects; the least recently used session closes when there are too many.
"""

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from django.conf import settings
from mcp import types
from mcp.client.client import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.shared.exceptions import MCPError

from assets import stdio_under_gevent
from assets.errors import McpAuthRejected, McpServerError, McpTimeout, McpUnreachable
from engine.errors import EngineError

logger = logging.getLogger(__name__)


class HeaderAuth(httpx2.Auth):
    """Adds the connection's current credential to every request (a new token needs no
    reconnect) and remembers a 401/403, which the SDK surfaces only as a generic error."""

    def __init__(self, headers: dict[str, str]):
        self.headers = headers
        self.rejected_status: int | None = None

    def auth_flow(self, request):
        request.headers.update(self.headers)
        response = yield request
        if response.status_code in (401, 403):
            self.rejected_status = response.status_code


@dataclass
class Session:
    key: str
    fingerprint: str
    auth: HeaderAuth
    client: Client | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    owner: asyncio.Task | None = None
    tools: list[dict] | None = None
    tools_fetched_at: float = 0.0
    last_used: float = field(default_factory=time.monotonic)
    in_use: int = 0


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class SessionPool:
    def __init__(self):
        stdio_under_gevent.install()
        self.sessions: dict[str, Session] = {}
        self.connecting: dict[str, asyncio.Lock] = {}
        self._last_auth: HeaderAuth | None = None

    def typed_error(self, exc: BaseException) -> Exception:
        """Maps anything the SDK or a transport raised to one of our MCP_CALL_ERRORS."""
        exc = _leaf(exc)
        if isinstance(exc, EngineError):
            return exc  # already one of ours
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return McpTimeout()
        if isinstance(exc, MCPError):
            return McpServerError(f"The MCP server returned an error: {exc.message}"[:500])
        if isinstance(exc, (httpx2.TransportError, OSError, anyio.ClosedResourceError,
                            anyio.BrokenResourceError, anyio.EndOfStream)):
            return McpUnreachable(f"The MCP server could not be reached ({type(exc).__name__}).")
        if isinstance(exc, httpx2.HTTPStatusError):
            return McpServerError(f"The MCP server answered HTTP {exc.response.status_code}.")
        logger.warning("unexpected MCP failure: %s", type(exc).__name__)
        return McpServerError(f"The MCP session failed ({type(exc).__name__}).")

    def _transport(self, target, auth: HeaderAuth, stack: AsyncExitStack):
        if target.transport == "stdio":
            params = StdioServerParameters(command=target.command[0], args=list(target.command[1:]),
                                           env=dict(target.env) or None)
            return stdio_client(params)
        timeout = httpx2.Timeout(settings.ENGINE_MCP_CONNECT_TIMEOUT, read=300.0)
        if target.transport == "sse":
            return sse_client(target.url, timeout=settings.ENGINE_MCP_CONNECT_TIMEOUT, auth=auth)
        http = httpx2.AsyncClient(auth=auth, timeout=timeout)
        stack.push_async_callback(http.aclose)
        return streamable_http_client(target.url, http_client=http)

    async def _own(self, session: Session, target, ready: asyncio.Future) -> None:
        """The one task that enters and exits this session's client."""

        async def on_message(message) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                session.tools = None  # refreshed on the next list_tools

        watcher = None
        try:
            async with AsyncExitStack() as stack:
                transport = self._transport(target, session.auth, stack)
                client = Client(transport, cache=None, message_handler=on_message, mode="auto")
                await stack.enter_async_context(client)
                session.client = client
                ready.set_result(client)
                watcher = asyncio.create_task(self._watch_tool_changes(session, client))
                try:
                    await session.closing.wait()
                finally:
                    watcher.cancel()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpUnreachable())
            elif not isinstance(exc, asyncio.CancelledError):
                logger.info("MCP session %s ended: %s", session.key, type(_leaf(exc)).__name__)
        finally:
            if self.sessions.get(session.key) is session:
                del self.sessions[session.key]

    async def _watch_tool_changes(self, session: Session, client: Client) -> None:
        """2026-07-28 servers announce tool changes only on a subscriptions/listen stream;
        older ones send notifications/tools/list_changed, which `on_message` handles."""
        capabilities = client.server_capabilities.tools
        if capabilities is None or not capabilities.list_changed:
            return
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    session.tools = None
        except ListenNotSupportedError:
            return
        except Exception as exc:  # the session itself reports transport failures to callers
            logger.info("MCP session %s stopped listening for tool changes: %s", session.key, type(exc).__name__)
            session.tools = None

    async def _session(self, target) -> Session:
        session = self.sessions.get(target.key)
        if session is None or session.fingerprint != target.fingerprint or session.owner.done():
            lock = self.connecting.setdefault(target.key, asyncio.Lock())
            async with lock:
                session = self.sessions.get(target.key)
                if session is None or session.fingerprint != target.fingerprint or session.owner.done():
                    if session is not None:
                        await self.close(target.key)
                    session = await self._open(target)
        session.auth.headers = dict(target.headers)
        session.auth.rejected_status = None
        session.last_used = time.monotonic()
        return session

    async def _open(self, target) -> Session:
        # A soft cap: only idle, connected sessions are closed to make room.
        while len(self.sessions) >= settings.ENGINE_MCP_MAX_SESSIONS:
            idle = [s for s in self.sessions.values() if s.in_use == 0 and s.client is not None]
            if not idle:
                break
            await self.close(min(idle, key=lambda s: s.last_used).key)
        session = Session(key=target.key, fingerprint=target.fingerprint, auth=HeaderAuth(dict(target.headers)))
        ready = asyncio.get_running_loop().create_future()
        session.owner = asyncio.create_task(self._own(session, target, ready))
        self.sessions[target.key] = session
        try:
            await asyncio.wait_for(asyncio.shield(ready), settings.ENGINE_MCP_CONNECT_TIMEOUT)
        except BaseException as exc:
            await self.close(target.key)
            raise self._auth_or(exc, session) from None
        return session

    def _auth_or(self, exc: BaseException, session: Session) -> Exception:
        if session.auth.rejected_status is not None:
            return McpAuthRejected()
        return self.typed_error(exc)

    async def _use(self, target, operation):
        session = await self._session(target)
        session.in_use += 1
        try:
            return await operation(session)
        except MCPError as exc:
            if session.auth.rejected_status is not None:
                await self.close(target.key)
                raise McpAuthRejected() from None
            raise self.typed_error(exc) from None
        except (TimeoutError, asyncio.TimeoutError):
            raise McpTimeout() from None  # the session stays usable
        except Exception as exc:
            await self.close(target.key)
            raise self._auth_or(exc, session) from None
        finally:
            session.in_use -= 1

    async def list_tools(self, target) -> list[dict]:
        async def fetch(session: Session) -> list[dict]:
            fresh = time.monotonic() - session.tools_fetched_at < settings.ENGINE_MCP_TOOLS_TTL_SECONDS
            if session.tools is not None and fresh:
                return session.tools
            tools, cursor = [], None
            while True:
                page = await session.client.list_tools(cursor=cursor)
                tools += [{"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
                          for t in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
            session.tools, session.tools_fetched_at = tools, time.monotonic()
            return tools

        return await self._use(target, fetch)

    async def call_tool(self, target, tool: str, arguments: dict, timeout: float) -> dict[str, Any]:
        async def call(session: Session) -> dict[str, Any]:
            result = await asyncio.wait_for(
                session.client.call_tool(tool, arguments, read_timeout_seconds=timeout), timeout
            )
            return {
                "content": [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content],
                "structured_content": result.structured_content,
                "is_error": bool(result.is_error),
            }

        return await self._use(target, call)

    async def close(self, key: str) -> None:
        session = self.sessions.pop(key, None)
        if session is None:
            return
        session.closing.set()
        if session.owner is not None and not session.owner.done():
            try:
                await asyncio.wait_for(asyncio.shield(session.owner), 5)
            except (asyncio.TimeoutError, Exception):
                session.owner.cancel()

    async def close_all(self) -> None:
        for key in list(self.sessions):
            await self.close(key)
