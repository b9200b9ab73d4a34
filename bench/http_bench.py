"""Requests/s and latency of /health against an authenticated JSON endpoint, on the real server.

    .venv/bin/python bench/http_bench.py [--seconds 5] [--connections 16] [--rounds 2]

Starts gunicorn + gevent (one worker) on a scratch SQLite database, or on DATABASE_URL, and
drives it from this process over keep-alive connections on loopback. The rounds alternate the two
endpoints so that both see the same machine load. Target: authentication costs at most 15% of
the throughput of /health.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import BenchServer, describe_ms  # noqa: E402

MAX_REQUESTS_PER_RUN = 200_000


def drive(port: int, path: str, headers: dict, seconds: float, connections: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline and len(latencies) < MAX_REQUESTS_PER_RUN:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            latencies.append(time.perf_counter() - started)
        conn.close()

    started = time.monotonic()
    gevent.joinall([gevent.spawn(client) for _ in range(connections)], raise_error=True)
    return len(latencies), latencies, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with BenchServer() as server:
        endpoints = {
            "GET /health (no auth)": ("/health", {}),
            "GET /whoami (X-Engine-Key)": ("/whoami", {"X-Engine-Key": server.admin_key}),
        }
        totals = {name: [0, [], 0.0] for name in endpoints}
        drive(server.port, "/health", {}, 1, args.connections)  # warm-up
        for _ in range(args.rounds):
            for name, (path, headers) in endpoints.items():
                count, latencies, elapsed = drive(server.port, path, headers, args.seconds, args.connections)
                totals[name][0] += count
                totals[name][1] += latencies
                totals[name][2] += elapsed
        rates = {}
        for name, (count, latencies, elapsed) in totals.items():
            rates[name] = count / elapsed
            print(f"{name:28} {rates[name]:8.0f} req/s  {describe_ms(latencies)}")
        health, authed = rates.values()
        cost = 1 - authed / health
        print(f"authentication cost: {cost * 100:.1f}% of /health throughput (target <= 15%)")


if __name__ == "__main__":
    main()
