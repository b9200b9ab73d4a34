"""The durable event log: appending batches of events, reading them back, encoding them as SSE.
Runs append through `execution.appender`, which batches their events."""

import functools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.conf import settings
from django.db import connection, transaction

from engine.db import update_rows
from execution import wakeups
from execution.models import FINISHED_STATUSES, Event, Run, Task

# Appends take this advisory lock on PostgreSQL so that event ids commit in id order, which
# makes `id > cursor` a gap-free cursor for readers. SQLite serialises writers by itself.
EVENT_LOG_LOCK = 0x656E67696E65  # "engine"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_now() -> str:
    """The spec's timestamp form: 2026-04-27T12:34:56.000Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class PendingEvent:
    """An event on its way to the log. Its task sequence number is given when it is written."""

    type: str
    data: dict
    ts: int = field(default_factory=lambda: now_ms())
    seq: int | None = None
    data_json: str = ""

    def __post_init__(self):
        # Encoded by whoever emits it: an event that cannot be stored fails its own run at once,
        # never the shared write that carries every run's events.
        self.data_json = _json(self.data)


@dataclass
class RunBatch:
    """What one run adds to the log in one write."""

    task: Task
    run_id: str
    events: list[PendingEvent]
    run_update: dict | None = None


@dataclass
class StoredEvent:
    id: int
    seq: int
    ts: int
    type: str
    data_json: str  # kept as text: encoding splices it rather than parsing it again
    run_id: str
    task_id: str

    @property
    def data(self) -> dict:
        return json.loads(self.data_json)


def append_batches(batches: list[RunBatch]) -> None:
    """Writes the batches in one transaction (taking the log lock): numbers each task's events
    after its last sequence number, stores them, then hands them to this process's readers at
    once; readers in other workers are woken at commit. Numbering here, not in the run, lets
    anyone append to a task (the run, a human's answer, the watchdog) without clashing.
    A batch's `run_update` changes its run in the same transaction: a run's closing event and
    its final status become visible together, so no reader sees one without the other."""
    encoded = [[event.data_json for event in batch.events] for batch in batches]
    ids: dict[tuple[int, int], int] = {}
    with transaction.atomic():
        with connection.cursor() as cursor:
            _number_events(cursor, batches)
            rows = [
                (batch.task.pk, batch.run_id, event.seq, event.ts, event.type, data)
                for batch, datas in zip(batches, encoded)
                for event, data in zip(batch.events, datas)
            ]
            # Every token of every turn passes here: a few multi-row statements, no model
            # instance per row (bulk_create costs several times more per event).
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                cursor.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
                ids.update({(task_pk, seq): event_id for event_id, task_pk, seq in cursor.fetchall()})
        for batch in batches:
            if batch.run_update:  # never reopens a run that was closed elsewhere (e.g. reaped as lost)
                update_rows(Run, batch.run_update, f"id = %s AND status NOT IN ({', '.join(['%s'] * len(FINISHED_STATUSES))})",
                            [batch.run_id, *FINISHED_STATUSES])
    for batch, datas in zip(batches, encoded):
        stored = [
            StoredEvent(ids[(batch.task.pk, e.seq)], e.seq, e.ts, e.type, data, batch.run_id, batch.task.task_id)
            for e, data in zip(batch.events, datas)
        ]
        wakeups.wake(batch.task.task_id, stored)


def _number_events(cursor, batches: list[RunBatch]) -> None:
    """Gives every event its task sequence number: one statement moves each task's `last_seq`
    on by its events in this write (a hundred streaming turns share one write).

    On PostgreSQL the same statement first takes the log lock, so that event ids commit in id
    order, and queues one NOTIFY per task for the other workers (sent at commit): one round
    trip where there were three."""
    counts: dict[int, int] = {}
    for batch in batches:
        if batch.events:
            counts[batch.task.pk] = counts.get(batch.task.pk, 0) + len(batch.events)
    if not counts:  # a write that only changes runs
        return
    table = Task._meta.db_table
    rows = " UNION ALL ".join(["SELECT %s AS id, %s AS n"] * len(counts))
    params = [value for pair in counts.items() for value in pair]
    if settings.DATABASE_IS_POSTGRES:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + counts.n "
            f"FROM (SELECT pg_advisory_xact_lock(%s)) AS log_lock, ({rows}) AS counts "
            f"WHERE {table}.id = counts.id RETURNING {table}.id, last_seq, pg_notify(%s, %s || {table}.task_id)",
            [EVENT_LOG_LOCK, *params, wakeups.EVENTS_CHANNEL, wakeups.notice_prefix()],
        )
    else:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + counts.n FROM ({rows}) AS counts "
            f"WHERE {table}.id = counts.id RETURNING {table}.id, last_seq",
            params,
        )
    next_seq = {task_pk: last - counts[task_pk] + 1 for task_pk, last, *_ in cursor.fetchall()}
    for batch in batches:  # in order: a task's earlier batch gets the lower numbers
        for event in batch.events:
            event.seq = next_seq[batch.task.pk]
            next_seq[batch.task.pk] += 1


def append_now(*, task: Task, run_id: str, events: list[tuple[str, dict]], run_update: dict | None = None) -> None:
    """Appends events outside a run's writer (a human's answer, the watchdog), at once."""
    append_batches([RunBatch(task=task, run_id=run_id, events=[PendingEvent(t, d) for t, d in events], run_update=run_update)])


INSERT_CHUNK = 500


def _json(data: dict) -> str:
    # Lone surrogates (possible in a model's output) cannot be stored as UTF-8: replace them.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace").decode("utf-8")
    # PostgreSQL's jsonb refuses the NUL character (an unescaped \u0000); no model output needs it.
    return _JSON_NUL.sub(r"\1", text) if settings.DATABASE_IS_POSTGRES else text


_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    data = "%s::jsonb" if settings.DATABASE_IS_POSTGRES else "%s"
    values = ", ".join([f"(%s, %s, %s, %s, %s, {data})"] * rows)
    return (
        f"INSERT INTO {Event._meta.db_table} (task_id, run_id, seq, ts, type, data) VALUES {values} "
        "RETURNING id, task_id, seq"
    )


def read_events(
    *, after_id: int, task_id: str | None = None, run_id: str | None = None, after_ts: int | None = None, limit: int = 500
) -> list[StoredEvent]:
    """Events with id > after_id (and ts > after_ts), oldest first. Streams call this on every
    wake-up, so it is one plain query."""
    data = "e.data::text" if connection.vendor == "postgresql" else "e.data"
    sql = [
        f"SELECT e.id, e.seq, e.ts, e.type, {data}, e.run_id, t.task_id FROM {Event._meta.db_table} e",
        f"JOIN {Task._meta.db_table} t ON t.id = e.task_id WHERE e.id > %s",
    ]
    params: list = [after_id]
    for condition, value in (("t.task_id = %s", task_id), ("e.run_id = %s", run_id), ("e.ts > %s", after_ts)):
        if value is not None:
            sql.append(f"AND {condition}")
            params.append(value)
    sql.append("ORDER BY e.id LIMIT %s")
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return [StoredEvent(*row) for row in cursor.fetchall()]


def encode_event(event: StoredEvent) -> bytes:
    """One SSE message: `id:`, `event:` and a one-line `data:` holding the event's own fields
    plus task_id, run_id, seq and ts (stored JSON text has no raw newlines)."""
    extra = f'"task_id":{json.dumps(event.task_id, ensure_ascii=False)},"run_id":"{event.run_id}","seq":{event.seq},"ts":{event.ts}}}'
    body = event.data_json.rstrip()
    data = body[:-1] + ("," if body[1:-1].strip() else "") + extra
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


def encode_heartbeat(*, task_id: str | None, run_id: str | None) -> bytes:
    data = json.dumps({"task_id": task_id, "run_id": run_id, "ts": now_ms()}, separators=(",", ":"))
    return f"event: heartbeat\ndata: {data}\n\n".encode()
