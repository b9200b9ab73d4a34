"""Stream responses: readers of the event log.

`/execute` and `/execute/replay` are the same reader started at different points: it sends what
the log already holds after its cursor, then waits (without polling) for the next append, sending
heartbeats while nothing happens, until the turn it follows has ended. Each query's connection
goes back before the reader yields or waits, so open streams do not hold database connections.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.http import StreamingHttpResponse

from engine.db import release_connection
from execution import eventlog, selectors
from execution.wakeups import Subscription

TERMINAL_PHASES = {"completed", "errored", "cancelled"}
RECONNECT_DELAY_MS = 2000
READ_BATCH = 500


@dataclass
class ReadFrom:
    """Where a reader starts and what it reads."""

    after_id: int = 0
    after_ts: int | None = None
    task_id: str | None = None
    run_id: str | None = None


def _ends_run(event: eventlog.StoredEvent, run_id: str) -> bool:
    return event.run_id == run_id and _closes_a_turn(event)


def read_log(start: ReadFrom, *, still_live: Callable[[], bool]) -> Iterator[bytes]:
    """Yields SSE messages from `start` on. Following one run, it ends after that run's closing
    `thread_lifecycle`; otherwise it ends once `still_live()` is false and the log is drained.
    Liveness is only asked when a read comes back empty or a turn has just closed."""
    cursor = start.after_id
    yield f"retry: {RECONNECT_DELAY_MS}\n\n".encode()
    with Subscription(start.task_id) as signal:
        while True:
            signal.clear()
            events = _read_after(start, cursor)
            if events:
                # One write per batch: a burst of deltas costs one send, not one per token.
                cursor = events[-1].id
                end = next((i for i, e in enumerate(events) if start.run_id and _ends_run(e, start.run_id)), None)
                yield b"".join(eventlog.encode_event(event) for event in events[: None if end is None else end + 1])
                if end is not None:
                    return
            if len(events) == READ_BATCH:
                continue
            if not events or any(_closes_a_turn(event) for event in events):
                if not still_live():
                    # Whatever was appended between our read and the check comes last.
                    yield b"".join(eventlog.encode_event(event) for event in _read_after(start, cursor))
                    return
                release_connection()
            if not signal.wait(timeout=settings.ENGINE_HEARTBEAT_SECONDS):
                yield eventlog.encode_heartbeat(task_id=start.task_id, run_id=start.run_id)


def _read_after(start: ReadFrom, cursor: int) -> list[eventlog.StoredEvent]:
    events = eventlog.read_events(
        after_id=cursor, task_id=start.task_id, run_id=start.run_id, after_ts=start.after_ts, limit=READ_BATCH
    )
    release_connection()
    return events


def _closes_a_turn(event: eventlog.StoredEvent) -> bool:
    return event.type == "thread_lifecycle" and event.data.get("phase") in TERMINAL_PHASES


def event_stream_response(chunks: Iterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def follow_run(*, run_id: str, task_id: str) -> StreamingHttpResponse:
    """The stream of one turn, from its start (POST /execute)."""
    start = ReadFrom(task_id=task_id, run_id=run_id)
    return event_stream_response(read_log(start, still_live=lambda: not selectors.run_is_finished(run_id)))


def replay(*, task_id: str | None, after_ts: int | None, after_id: int) -> StreamingHttpResponse:
    """Everything after a point, then the live tail while a turn is going (GET /execute/replay)."""
    start = ReadFrom(after_id=after_id, after_ts=after_ts, task_id=task_id)
    return event_stream_response(read_log(start, still_live=lambda: selectors.has_live_run(task_id)))
