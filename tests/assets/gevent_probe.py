"""Run as a subprocess by test_mcp_under_gevent.py: a gevent-patched process, like a gunicorn
worker, where many greenlets call assets.mcp at once while a ticker greenlet measures how long
the hub was ever blocked. Prints one JSON line."""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import django  # noqa: E402

django.setup()

import gevent  # noqa: E402
from django.db import connections  # noqa: E402

from assets import mcp, mcp_runtime  # noqa: E402


def main(ref_id: str, calls: int, seconds: float) -> None:
    gaps, running = [], True

    def tick() -> None:
        last = time.monotonic()
        while running:
            gevent.sleep(0.01)
            now = time.monotonic()
            gaps.append((now - last, now))
            last = now

    def call(n: int) -> str:
        try:
            return mcp.call_tool(ref_id, "slow", {"seconds": seconds}, timeout=10)["content"][0]["text"]
        finally:
            connections.close_all()

    ticker = gevent.spawn(tick)
    first_started = time.monotonic()
    first = mcp.list_tools(ref_id)  # starts the loop thread and the session
    first_elapsed = time.monotonic() - first_started
    started = time.monotonic()
    results = [g.get() for g in [gevent.spawn(call, n) for n in range(calls)]]
    elapsed = time.monotonic() - started
    running = False
    ticker.join()
    mcp_runtime.shutdown()
    # Each greenlet's first step (its own SQLite connection and one query) is synchronous; once all
    # forty wait on the MCP loop, the hub must stay free while the calls are in flight.
    in_flight = [gap for gap, end in gaps if end - gap > started + 0.3]
    print(json.dumps({"results": results, "elapsed": elapsed, "max_gap": max(gap for gap, _ in gaps),
                      "max_gap_in_flight": max(in_flight), "first_list": first_elapsed,
                      "tools": len(first)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
