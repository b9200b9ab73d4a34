"""First-token time of two Engine versions side by side: two servers (one gunicorn+gevent worker
each, a scratch database each) started once, their turns alternating, A then B, then B then A.
On a shared machine whose speed drifts by more than a change is worth, the paired difference
is the figure to trust, not either side's absolute time.

    .venv/bin/python bench/paired_bench.py --b ../old-checkout            # this checkout vs another
    .venv/bin/python bench/paired_bench.py --b-env ENGINE_EVENTS_SYNC_COMMIT=false   # one setting

Prints each side's p25/p50/p75 (request sent → first `text_delta` received) and the median of
the per-pair differences A − B (negative: A is faster). Loopback only; every loop is bounded.
Uses SQLite in scratch directories, or scratch databases on the PostgreSQL server of DATABASE_URL.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import ROOT, BenchServer, percentile  # noqa: E402
from bench.stream_bench import first_token_delay  # noqa: E402

WARM_UP_TURNS = 5


def settings_from(pairs: list[str]) -> dict:
    """`["K=V", ...]` → {"K": "V"}."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--a-env/--b-env take NAME=VALUE, not {pair!r}")
        settings[name] = value
    return settings


def label(checkout: Path, settings: list[str]) -> str:
    return " ".join([str(checkout), *settings])


def spread(samples: list[float]) -> str:
    return " ".join(f"p{int(q * 100)} {percentile(samples, q):.2f}" for q in (0.25, 0.5, 0.75)) + " ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", type=Path, default=ROOT, help="checkout A (default: this one)")
    parser.add_argument("--b", type=Path, default=ROOT, help="checkout B (default: this one)")
    parser.add_argument("--a-env", action="append", default=[], metavar="NAME=VALUE", help="a setting of A's server")
    parser.add_argument("--b-env", action="append", default=[], metavar="NAME=VALUE", help="a setting of B's server")
    parser.add_argument("--turns", type=int, default=100, help="turns per side")
    parser.add_argument("--message", default="hello")
    args = parser.parse_args()
    if args.turns < 1:
        raise SystemExit("--turns must be at least 1")

    with BenchServer(root=args.a, env=settings_from(args.a_env)) as a, BenchServer(root=args.b, env=settings_from(args.b_env)) as b:
        for i in range(WARM_UP_TURNS):
            for server in (a, b):
                first_token_delay(server, f"warm-{i}", args.message)
        times: dict[str, list[float]] = {"A": [], "B": []}
        for i in range(args.turns):
            order = [("A", a), ("B", b)] if i % 2 == 0 else [("B", b), ("A", a)]
            for name, server in order:
                times[name].append(first_token_delay(server, f"turn-{i}", args.message) * 1000)
    print(f"A ({label(args.a, args.a_env)}): {spread(times['A'])}")
    print(f"B ({label(args.b, args.b_env)}): {spread(times['B'])}")
    differences = [x - y for x, y in zip(times["A"], times["B"])]
    print(f"paired median A - B over {args.turns} pairs: {percentile(differences, 0.5):+.2f} ms")


if __name__ == "__main__":
    main()
