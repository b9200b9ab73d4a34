"""Appending a run's events without making the run wait for the database.

Each run numbers its events through its `EventWriter` and queues them; one appender greenlet
per worker process writes what every run has queued in a single transaction, then wakes the
readers. An urgent event (anything but a delta, and a turn's first token) goes out at once;
deltas in a burst wait COALESCE_SECONDS so that they share a write. With a hundred turns
streaming at once, that is one transaction per burst window, not one per token per turn.
A held event (a turn's `started`) waits as long for the next urgent one, even outside a burst.
"""

import logging
import time
from collections import deque

import gevent
import gevent.event

from engine.db import release_connection
from execution.eventlog import PendingEvent, RunBatch, append_batches
from execution.models import Task

logger = logging.getLogger(__name__)

COALESCE_SECONDS = 0.004
QUIET_SECONDS = 0.05
COALESCED_TYPES = {"text_delta", "thinking_delta"}
WRITE_ATTEMPTS = 12


class EventLogUnavailable(Exception):
    """The log could not be written for long enough that the run must stop."""


class EventWriter:
    """Queues the events of one run, in order, for the appender."""

    def __init__(self, *, task: Task, run_id: str):
        self.task = task
        self.run_id = run_id
        self.queue: deque[PendingEvent] = deque()
        self.final: tuple[PendingEvent, dict] | None = None
        self.failed = False
        self._drained = gevent.event.Event()
        self._drained.set()

    def emit(self, type: str, data: dict, *, urgent: bool | None = None, hold: bool = False) -> PendingEvent:
        """Queues an event. Deltas may wait a few milliseconds to share a write; other events
        (and `urgent=True`) are written at once, unless `hold`: then the event waits up to
        COALESCE_SECONDS for the next urgent event of any run, to share its write."""
        if self.failed:
            raise EventLogUnavailable("The event log cannot be written.")
        event = PendingEvent(type, data)
        self.queue.append(event)
        self._drained.clear()
        urgent = not hold and (urgent or (urgent is None and type not in COALESCED_TYPES))
        _appender.submit(self, urgent=urgent, hold=hold)
        return event

    def finish(self, type: str, data: dict, *, run_update: dict) -> None:
        """Emits the run's closing event, applies `run_update` with it, and waits for the writes."""
        if self.final is None:  # a second call (cancel arrived while closing) only waits again
            self.final = (self.emit(type, data), run_update)
        self.flush()

    def flush(self) -> None:
        """Waits until everything emitted is written (or the log gave up)."""
        if self.queue:
            _appender.submit(self, urgent=True)
        self._drained.wait()
        if self.failed:
            raise EventLogUnavailable(f"Events of run {self.run_id} could not be written.")

    def batch(self) -> RunBatch:
        events = list(self.queue)
        update = self.final[1] if self.final and events and events[-1] is self.final[0] else None
        return RunBatch(task=self.task, run_id=self.run_id, events=events, run_update=update)

    def written(self, count: int) -> None:
        for _ in range(count):
            self.queue.popleft()
        if not self.queue:
            self._drained.set()

    def give_up(self) -> None:
        self.failed = True
        self.queue.clear()
        self._drained.set()


class _Appender:
    def __init__(self):
        self._dirty: dict[EventWriter, None] = {}  # insertion-ordered set
        self._wanted = gevent.event.Event()
        self._hurry = gevent.event.Event()  # something urgent is queued: write now
        self._holding = False  # a held event is queued: wait for company even outside a burst
        self._last_write = 0.0
        self._greenlet: gevent.Greenlet | None = None

    def submit(self, writer: EventWriter, *, urgent: bool, hold: bool = False) -> None:
        self._dirty[writer] = None
        if urgent:
            self._hurry.set()
        self._holding = self._holding or hold
        self._wanted.set()
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run_forever)

    def _run_forever(self) -> None:
        while True:
            self._wanted.wait()
            if not self._hurry.is_set() and (self._holding or time.monotonic() - self._last_write < QUIET_SECONDS):
                # A burst of deltas, or a held event: let more join this write, but an urgent event
                # cuts the wait short (a timer alone fires late while busy greenlets keep the hub occupied).
                self._hurry.wait(COALESCE_SECONDS)
            self._wanted.clear()
            self._hurry.clear()
            self._holding = False
            while self._dirty:
                self._write_dirty()

    def _write_dirty(self) -> None:
        writers = list(self._dirty)
        self._dirty.clear()
        batches = [writer.batch() for writer in writers]
        # The appender keeps its connection between writes (it is one greenlet per worker).
        try:
            append_batches([b for b in batches if b.events])
            written = list(zip(writers, batches))
        except Exception:
            logger.warning("appending the events of %d runs failed; writing them run by run", len(writers), exc_info=True)
            release_connection()
            written = [(w, b) for w, b in zip(writers, batches) if self._write_alone(w, b)]
        self._last_write = time.monotonic()
        for writer, batch in written:
            writer.written(len(batch.events))
            if writer.queue:  # emitted while the write was in flight (PostgreSQL yields)
                self._dirty[writer] = None

    def _write_alone(self, writer: EventWriter, batch) -> bool:
        """Retries one run's events with backoff, so one run's trouble stays its own."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                if batch.events:
                    append_batches([batch])
                return True
            except Exception:
                logger.warning("appending events of run %s failed (attempt %d)", writer.run_id, attempt + 1, exc_info=True)
                gevent.sleep(min(0.05 * 2**attempt, 2))
            finally:
                release_connection()
        logger.error("giving up on the events of run %s: they cannot be written", writer.run_id)
        writer.give_up()
        return False


_appender = _Appender()
