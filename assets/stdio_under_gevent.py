"""Lets asyncio spawn stdio MCP servers on the MCP loop thread of a gevent-patched worker.

gevent's patched `subprocess.Popen` watches its children on the hub's default loop, so on any
other thread every spawn fails *after* the fork ("child watchers are only available on the
default loop") and a stdlib Popen deadlocks on gevent's deferred `os.close`. asyncio therefore
gets its own copy of the stdlib `subprocess` module bound to the real `os.close`/`os.waitpid`,
and a pidfd child watcher (no helper threads, no SIGCHLD). Measured in notes/sdks-under-gevent.
"""

import importlib.util
import sys
import types

from gevent import monkey

_installed = False


def _stdlib_subprocess() -> types.ModuleType:
    import os

    real_os = types.ModuleType("os")
    real_os.__dict__.update(os.__dict__)
    for name in ("close", "waitpid", "read", "write", "fork"):
        original = monkey.get_original("os", name)
        if original is not None:
            setattr(real_os, name, original)
    spec = importlib.util.find_spec("subprocess")
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules["os"]
    # subprocess binds `os.waitpid` into default arguments while it executes, so `import os`
    # must see the real functions for that moment.
    sys.modules["os"] = real_os
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules["os"] = saved
    module.__name__ = "assets._stdlib_subprocess"  # never registered in sys.modules
    return module


def install() -> None:
    """Called once, on the MCP loop thread, before any stdio session; a no-op unless patched."""
    global _installed
    if _installed or not monkey.is_module_patched("subprocess"):
        return
    import asyncio
    import asyncio.base_subprocess
    import asyncio.unix_events

    clean = _stdlib_subprocess()
    asyncio.unix_events.subprocess = clean
    asyncio.base_subprocess.subprocess = clean
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_event_loop())
    asyncio.get_event_loop_policy().set_child_watcher(watcher)
    _installed = True
