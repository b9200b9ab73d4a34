"""One asyncio loop per worker process, in a real OS thread, that owns every MCP session.

Greenlets (or plain threads, outside gunicorn) hand work over with `call_soon_threadsafe` and
wait on a gevent async watcher, which the loop thread may `send()` to; gevent's own events must
never be set from that thread (notes: sdks-under-gevent). The thread starts lazily on first use
in each process (so after fork, never in the gunicorn master), imports the mcp SDK itself so
that the import never stalls the hub, and stops in gunicorn's `worker_exit` (`shutdown`).
"""

import asyncio
import logging
import os
import threading
from typing import Any

from gevent import monkey

from assets.errors import McpServerError, McpTimeout

logger = logging.getLogger(__name__)
_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")


class _Handoff:
    """A one-shot result from the loop thread to one waiting greenlet (or thread)."""

    def __init__(self):
        self.result: Any = None
        self.error: BaseException | None = None
        self._gevent = monkey.is_module_patched("threading")
        if self._gevent:
            from gevent import get_hub
            from gevent.hub import Waiter

            self._waiter = Waiter()
            # Started before the work is submitted, so a send() can never come too early.
            self._watcher = get_hub().loop.async_()
            self._watcher.start(self._waiter.switch, None)
        else:
            self._event = threading.Event()

    def set(self, result: Any = None, error: BaseException | None = None) -> None:
        """Called on the loop thread."""
        self.result, self.error = result, error
        if self._gevent:
            self._watcher.send()
        else:
            self._event.set()

    def wait(self, timeout: float) -> bool:
        """True when the result arrived within `timeout` seconds."""
        if not self._gevent:
            return self._event.wait(timeout)
        import gevent

        try:
            with gevent.Timeout(timeout, False):
                self._waiter.get()
                return True
            return False
        finally:
            self._watcher.stop()
            self._watcher.close()


class _Work:
    def __init__(self, operation: str, args: tuple, handoff: _Handoff):
        self.operation, self.args, self.handoff = operation, args, handoff
        self.task: asyncio.Task | None = None
        self.abandoned = False


class LoopThread:
    """The process's MCP loop. `run()` is the only entry point for other threads."""

    def __init__(self):
        self.pid = os.getpid()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pool = None
        self._lock = _allocate_lock()
        self._pending: list[_Work] = []
        self._stopped = _allocate_lock()
        self._stopped.acquire()
        _start_thread(self._main, ())

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            from assets import mcp_sessions  # the SDK is imported here, off the gevent hub

            self.pool = mcp_sessions.SessionPool()
        except BaseException:
            logger.exception("the MCP loop could not start")
        with self._lock:
            self.loop = loop
            pending, self._pending = self._pending, []
        for work in pending:
            loop.call_soon(self._begin, work)
        try:
            loop.run_forever()
        finally:
            loop.close()
            self._stopped.release()

    def _begin(self, work: _Work) -> None:
        if work.abandoned:
            return
        if self.pool is None:
            work.handoff.set(error=McpServerError("The MCP client could not start in this worker."))
            return
        work.task = self.loop.create_task(self._invoke(work))

    async def _invoke(self, work: _Work) -> None:
        try:
            result = await getattr(self.pool, work.operation)(*work.args)
        except asyncio.CancelledError:
            work.handoff.set(error=McpTimeout())
        except BaseException as exc:  # every failure goes back to the caller, typed
            work.handoff.set(error=self.pool.typed_error(exc))
        else:
            work.handoff.set(result=result)

    def _abandon(self, work: _Work) -> None:
        work.abandoned = True
        if work.task is not None:
            work.task.cancel()  # reaches the MCP server as a cancellation

    def run(self, operation: str, *args, timeout: float) -> Any:
        """Runs `SessionPool.<operation>(*args)` on the loop and waits cooperatively for it.
        Raises what the operation raised (typed by the pool), or McpTimeout after `timeout`;
        a caller killed or timed out while waiting cancels the operation."""
        work = _Work(operation, args, _Handoff())
        with self._lock:
            if self.loop is None:
                self._pending.append(work)
            else:
                self.loop.call_soon_threadsafe(self._begin, work)
        finished = False
        try:
            finished = work.handoff.wait(timeout)
        finally:
            if not finished:
                self._call(self._abandon, work)
        if not finished:
            raise McpTimeout()
        if work.handoff.error is not None:
            raise work.handoff.error
        return work.handoff.result

    def _call(self, callback, *args) -> None:
        with self._lock:
            if self.loop is None:
                self._pending = [w for w in self._pending if w not in args]
                return
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float) -> None:
        """Closes every session (stdio servers end), then stops the loop and its thread."""
        try:
            self.run("close_all", timeout=timeout)
        except Exception:
            logger.warning("MCP sessions did not all close within %ss", timeout)
        if self.loop is not None:
            self._call(self.loop.stop)
        if self._stopped.acquire(True, timeout):
            self._stopped.release()
            logger.info("MCP loop stopped; its sessions are closed")


_runtime: LoopThread | None = None


def runtime() -> LoopThread:
    """This process's loop, started on first use (a forked child starts its own)."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        _runtime = LoopThread()
    return _runtime


def shutdown(timeout: float = 5.0) -> None:
    """Stops this process's loop if it was started; for gunicorn's worker_exit and tests."""
    global _runtime
    current, _runtime = _runtime, None
    if current is not None and current.pid == os.getpid():
        current.stop(timeout)


def has_runtime() -> bool:
    return _runtime is not None and _runtime.pid == os.getpid()
