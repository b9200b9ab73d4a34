"""Answer → `hitl_resolved` latency, as a client sees it (target ≤ 50 ms p50).

    .venv/bin/python bench/hitl_bench.py [--rounds 30]

With DATABASE_URL on PostgreSQL it starts two servers on the same database and always answers
on the other one than the turn streams from, so the wake-up crosses processes (LISTEN/NOTIFY);
on SQLite it uses one server. Loopback only, bounded.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import BenchServer, describe_ms  # noqa: E402
from bench.sse_client import post_execute  # noqa: E402


def one_round(streaming: BenchServer, answering: BenchServer, key: str, task_id: str) -> float:
    arrivals: dict[str, float] = {}
    body = {"message": '/tool ask_user {"question": "Ready?"}', "task_id": task_id, "direct": True}
    turn = gevent.spawn(post_execute, streaming.port, key, body, on_event=lambda e: arrivals.setdefault(e[1], e[0]))
    deadline = time.monotonic() + 10
    while "hitl_request" not in arrivals:
        if time.monotonic() > deadline:
            raise RuntimeError("no hitl_request")
        gevent.sleep(0.002)
    answered = time.perf_counter()
    response = requests.post(f"{answering.url}/hitl/respond", data=json.dumps({"task_id": task_id, "answer": "yes"}),
                             headers={"X-Engine-Key": key, "Content-Type": "application/json"}, timeout=10)
    response.raise_for_status()
    turn.join(timeout=10)
    return arrivals["hitl_resolved"] - answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    with BenchServer() as first:
        shared = {"ENGINE_DATA_DIR": str(first.data_dir), "DATABASE_URL": first.env["DATABASE_URL"]}
        second = BenchServer(env=shared) if postgres else None
        if second:
            second.__enter__(migrate=False)
        answering = second or first
        try:
            for i in range(3):
                one_round(first, answering, first.admin_key, f"warm-{i}")
            latencies = [one_round(first, answering, first.admin_key, f"hitl-{i}") for i in range(args.rounds)]
        finally:
            if second:
                second.__exit__()
    where = "answered on a second server (another process)" if second else "one server (SQLite)"
    print(f"answer -> hitl_resolved, {where}, {args.rounds} rounds: {describe_ms(latencies)}  (target p50 <= 50 ms)")


if __name__ == "__main__":
    main()
