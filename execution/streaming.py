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
from execution.models import Run
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
    known_seq: int | None = None  # the task's last sequence number before the turn began, if known


def _ends_run(event: eventlog.StoredEvent, run_id: str) -> bool:
    return event.run_id == run_id and _closes_a_turn(event)


def read_log(start: ReadFrom, *, still_live: Callable[[], bool]) -> Iterator[bytes]:
    """Yields SSE messages from `start` on. Following one run, it ends after that run's closing
    `thread_lifecycle`; otherwise it ends once `still_live()` is false and the log is drained.
    Liveness is only asked when nothing new came or a turn has just closed."""
    with Subscription(start.task_id) as subscription:
        # The reconnect delay goes out before the first wait, and the response's headers with it:
        # the client has parsed them by the time the first events come (on PostgreSQL a first
        # token 0.3-0.4 ms sooner, paired, than sending them with those events), and it knows
        # the stream is open however long the model takes.
        preamble = f"retry: {RECONNECT_DELAY_MS}\n\n".encode()
        reader = _LogReader(start, subscription)
        # A turn launched by this very request has written nothing yet: wait for its first events.
        just_launched = start.known_seq is not None
        # The request's own connection (it started the turn, or looked the task up); afterwards
        # only `still_live()` takes one, since reading the log gives its own back.
        may_hold_connection = True
        while True:
            subscription.signal.clear()
            events = [] if just_launched else reader.next_events()
            if events:
                end = next((i for i, e in enumerate(events) if start.run_id and _ends_run(e, start.run_id)), None)
                # One write per batch: a burst of deltas costs one send, not one per token.
                yield preamble + b"".join(eventlog.encode_event(e) for e in events[: None if end is None else end + 1])
                preamble = b""
                if end is not None:
                    return
            if reader.more_in_log:
                continue
            if just_launched:
                just_launched = False
            elif not events or any(_closes_a_turn(event) for event in events):
                may_hold_connection = True
                if not still_live():
                    # Whatever was appended between our read and the check comes last.
                    yield preamble + b"".join(eventlog.encode_event(e) for e in reader.read_log())
                    return
            if may_hold_connection:  # never wait holding a pooled connection
                release_connection()
                may_hold_connection = False
            if preamble:
                yield preamble
                preamble = b""
            if not subscription.signal.wait(timeout=settings.ENGINE_HEARTBEAT_SECONDS):
                yield eventlog.encode_heartbeat(task_id=start.task_id, run_id=start.run_id)


class _LogReader:
    """Where a stream is in the log, and what it reads next: the events this process appended
    for its task (handed over by the subscription) when they follow on from what it has sent,
    otherwise a read of the log. `known_seq` is the task's last sequence number accounted for."""

    def __init__(self, start: ReadFrom, subscription: Subscription):
        self.start = start
        self.subscription = subscription
        self.cursor = start.after_id
        self.known_seq = start.known_seq
        self.more_in_log = False

    def next_events(self) -> list[eventlog.StoredEvent]:
        handed, nudged = self.subscription.take()
        if self.start.task_id and self.known_seq is not None and not self.subscription.overflowed and not nudged:
            fresh = [event for event in handed if event.seq > self.known_seq]
            if fresh and all(event.seq == self.known_seq + 1 + i for i, event in enumerate(fresh)):
                self.known_seq = fresh[-1].seq
                self.cursor = max(self.cursor, fresh[-1].id)
                return [event for event in fresh if self._wanted(event)]
            if handed and not fresh:
                return []  # all of it was read from the log already
        return self.read_log()

    def read_log(self) -> list[eventlog.StoredEvent]:
        self.subscription.overflowed = False
        if self.start.task_id and self.known_seq is None:
            self.known_seq = selectors.task_last_seq(self.start.task_id)
        events = eventlog.read_events(
            after_id=self.cursor, task_id=self.start.task_id, run_id=self.start.run_id,
            after_ts=self.start.after_ts, limit=READ_BATCH,
        )
        release_connection()
        self.more_in_log = len(events) == READ_BATCH
        if events:
            self.cursor = events[-1].id
            if self.known_seq is not None:
                self.known_seq = max(self.known_seq, events[-1].seq)
        return events

    def _wanted(self, event: eventlog.StoredEvent) -> bool:
        return (self.start.run_id is None or event.run_id == self.start.run_id) and (
            self.start.after_ts is None or event.ts > self.start.after_ts
        )


def _closes_a_turn(event: eventlog.StoredEvent) -> bool:
    return event.type == "thread_lifecycle" and event.data.get("phase") in TERMINAL_PHASES


def event_stream_response(chunks: Iterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def follow_run(run: Run) -> StreamingHttpResponse:
    """The stream of one turn, from its start (POST /execute), for the request that started it."""
    start = ReadFrom(task_id=run.task.task_id, run_id=run.id, known_seq=run.task.last_seq)
    return event_stream_response(read_log(start, still_live=lambda: not selectors.run_is_finished(run.id)))


def replay(*, task_id: str | None, after_ts: int | None, after_id: int) -> StreamingHttpResponse:
    """Everything after a point, then the live tail while a turn is going (GET /execute/replay)."""
    start = ReadFrom(after_id=after_id, after_ts=after_ts, task_id=task_id)
    return event_stream_response(read_log(start, still_live=lambda: selectors.has_live_run(task_id)))
