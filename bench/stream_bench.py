"""Streaming figures of the real server (one gunicorn+gevent worker, offline model):

1. first-token overhead: request sent → first `text_delta` received, minus the model's own
   first-token time (measured in-process on the same message); target ≤ 5 ms p50;
2. throughput: events per second through one worker on a 2,000-delta reply; target ≥ 5,000/s;
3. p95 first-token overhead with 100 concurrent streaming turns on one worker; target ≤ 50 ms;
4. the engine's own overhead per tool round trip (tool_call received → the model's next first
   delta received, less the tool's and the model's own time); target ≤ 10 ms p50.
   The turns arrive over two seconds and each streams for about three, so all hundred are
   streaming together; a hundred requests landing in the same millisecond would instead measure
   how long one worker takes to accept a hundred requests.

    .venv/bin/python bench/stream_bench.py [--turns 40] [--concurrent 100] [--parts 1,3]

Loopback only; every loop is bounded. Uses SQLite in a scratch directory, or DATABASE_URL.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import BenchServer, describe_ms, percentile  # noqa: E402
from bench.sse_client import post_execute  # noqa: E402


def model_first_token_seconds(message: str) -> float:
    """The offline model's own time to its first token, outside the Engine."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
    from execution.llm import ModelRequest, TextDelta
    from execution.offline_model import OfflineModel

    samples = []
    for _ in range(50):
        started = time.perf_counter()
        stream = OfflineModel().stream(ModelRequest(system="", messages=[{"role": "user", "content": [{"type": "text", "text": message}]}]))
        next(item for item in stream if isinstance(item, TextDelta))
        samples.append(time.perf_counter() - started)
        stream.close()
    return percentile(samples, 0.5)


def tool_run_seconds() -> float:
    """The built-in current_time tool's own run time, in-process."""
    from execution.builtin_tools import current_time

    samples = []
    for _ in range(50):
        started = time.perf_counter()
        current_time({}, None)
        samples.append(time.perf_counter() - started)
    return percentile(samples, 0.5)


def first_token_delay(server: BenchServer, task_id: str, message: str) -> float:
    started = time.perf_counter()
    events = post_execute(server.port, server.admin_key, {"message": message, "task_id": task_id, "direct": True})
    first = next(arrived for arrived, kind, _ in events if kind == "text_delta")
    return first - started


def server_cpu_seconds(pid: int) -> float:
    """user+system CPU time of the worker processes under the gunicorn master `pid`."""
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def sequential(server: BenchServer, args, model_ttft: float) -> None:
    overheads = [first_token_delay(server, f"ttft-{i}", "hello") - model_ttft for i in range(args.turns)]
    print(f"1. first-token overhead, sequential ({args.turns} turns): {describe_ms(overheads)}  (target p50 <= 5 ms)")


def throughput(server: BenchServer, args, model_ttft: float) -> None:
    rates, cpu_per_event = [], []
    for i in range(5):
        cpu_before = server_cpu_seconds(server.process.pid)
        started = time.perf_counter()
        events = post_execute(server.port, server.admin_key, {"message": f"/stream {args.deltas}", "task_id": f"tp-{i}", "direct": True})
        elapsed = time.perf_counter() - started
        cpu = server_cpu_seconds(server.process.pid) - cpu_before
        deltas = sum(1 for _, kind, _ in events if kind == "text_delta")
        assert deltas == args.deltas, deltas
        rates.append(len(events) / elapsed)
        cpu_per_event.append(cpu / len(events))
    best_cpu = min(cpu_per_event)
    print(
        f"2. throughput, {args.deltas}-delta reply: {percentile(rates, 0.5):.0f} events/s p50 of 5 turns "
        f"(best {max(rates):.0f}/s); worker CPU {best_cpu * 1e6:.0f} us/event = {1 / best_cpu:.0f} events/s per core  (target >= 5000/s)"
    )


def concurrent(server: BenchServer, args, model_ttft: float) -> None:
    """A hundred turns streaming at once: each starts while the others stream at a model's pace
    (50 tokens/s for ~3 s), the arrivals spread over two seconds as real users'."""

    def one_turn(i: int) -> float:
        gevent.sleep(i * args.ramp / args.concurrent)
        body = {"message": f"/stream {args.stream_tokens} /pace 20", "task_id": f"conc-{i}", "direct": True}
        started = time.perf_counter()
        first = []
        post_execute(server.port, server.admin_key, body, on_event=lambda e: first or e[1] != "text_delta" or first.append(e[0]))
        return first[0] - started - model_ttft

    cpu_before, started = server_cpu_seconds(server.process.pid), time.perf_counter()
    greenlets = [gevent.spawn(one_turn, i) for i in range(args.concurrent)]
    gevent.joinall(greenlets, raise_error=True, timeout=120)
    busy = (server_cpu_seconds(server.process.pid) - cpu_before) / (time.perf_counter() - started)
    print(
        f"3. first-token overhead, {args.concurrent} turns streaming at once (arrivals over {args.ramp:.0f} s, "
        f"{args.stream_tokens} tokens at 50/s each): {describe_ms([g.value for g in greenlets])}  (target p95 <= 50 ms); "
        f"the worker was busy {busy:.0%} of the time"
    )


def tool_round_trip(server: BenchServer, args, model_ttft: float) -> None:
    """From the tool_call event to the first delta of the model's next call (server timestamps,
    1 ms resolution), less the tool's and the model's own time."""
    tool_seconds = tool_run_seconds()
    round_trips = []
    for i in range(args.turns):
        events = post_execute(server.port, server.admin_key, {"message": "/time", "task_id": f"tool-{i}", "direct": True})
        # The server's own event timestamps (ms): on the wire these events often share a write.
        call_ms = next(data["ts"] for _, kind, data in events if kind == "tool_call")
        result_index = next(index for index, (_, kind, _) in enumerate(events) if kind == "tool_result")
        answer_ms = next(data["ts"] for _, kind, data in events[result_index:] if kind == "text_delta")
        round_trips.append((answer_ms - call_ms) / 1000 - tool_seconds - model_ttft)
    print(f"4. engine overhead per tool round trip ({args.turns} turns; tool itself {tool_seconds * 1000:.3f} ms): {describe_ms(round_trips)}  (target p50 <= 10 ms)")


PARTS = {1: sequential, 2: throughput, 3: concurrent, 4: tool_round_trip}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--deltas", type=int, default=2000)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the concurrent turns arrive")
    parser.add_argument("--stream-tokens", type=int, default=150)
    parser.add_argument("--parts", default="1,2,3,4", help="which figures to measure, e.g. 1,3")
    args = parser.parse_args()
    model_ttft = model_first_token_seconds("hello")
    print(f"offline model's own first token: {model_ttft * 1000:.3f} ms (p50, in-process)")

    with BenchServer() as server:
        for i in range(5):  # warm-up
            first_token_delay(server, f"warm-{i}", "hello")
        for part in sorted(int(part) for part in args.parts.split(",")):
            PARTS[part](server, args, model_ttft)


if __name__ == "__main__":
    main()
