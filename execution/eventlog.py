"""The durable event log: appending batches of events, reading them back, encoding them as SSE.
Runs append through `execution.appender`, which batches their events."""

import contextlib
import functools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.conf import settings
from django.db import connection, transaction

from engine.db import fetch_prepared, update_rows
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
    updates = [batch for batch in batches if batch.run_update]
    # A write that changes a run, or is part of a caller's transaction, waits for its WAL flush.
    wait_for_flush = settings.ENGINE_EVENTS_SYNC_COMMIT or bool(updates) or connection.in_atomic_block
    with transaction.atomic() if updates or not settings.DATABASE_IS_POSTGRES else contextlib.nullcontext():
        if settings.DATABASE_IS_POSTGRES:
            ids = _store_postgres(batches, wait_for_flush=wait_for_flush)
        else:
            with connection.cursor() as cursor:
                ids = _store_sqlite(cursor, batches)
        for batch in updates:  # never reopens a run that was closed elsewhere (e.g. reaped as lost)
            update_rows(Run, batch.run_update, f"id = %s AND status NOT IN ({', '.join(['%s'] * len(FINISHED_STATUSES))})",
                        [batch.run_id, *FINISHED_STATUSES])
    for batch in batches:
        stored = [
            StoredEvent(ids[(batch.task.pk, e.seq)], e.seq, e.ts, e.type, e.data_json, batch.run_id, batch.task.task_id)
            for e in batch.events
        ]
        wakeups.wake(batch.task.task_id, stored)


def _store_sqlite(cursor, batches: list[RunBatch]) -> dict[tuple[int, int], int]:
    """Numbers the events (one statement for every task of the write), then inserts them in a
    few multi-row statements. SQLite serialises writers: no lock is needed for id order."""
    counts: dict[int, int] = {}
    for batch in batches:
        if batch.events:
            counts[batch.task.pk] = counts.get(batch.task.pk, 0) + len(batch.events)
    if not counts:  # a write that only changes runs
        return {}
    table = Task._meta.db_table
    rows = " UNION ALL ".join(["SELECT %s AS id, %s AS n"] * len(counts))
    cursor.execute(
        f"UPDATE {table} SET last_seq = last_seq + counts.n FROM ({rows}) AS counts "
        f"WHERE {table}.id = counts.id RETURNING {table}.id, last_seq",
        [value for pair in counts.items() for value in pair],
    )
    _number(batches, {task_pk: last - counts[task_pk] for task_pk, last in cursor.fetchall()})
    rows = [
        (batch.task.pk, batch.run_id, event.seq, event.ts, event.type, event.data_json)
        for batch in batches
        for event in batch.events
    ]
    ids: dict[tuple[int, int], int] = {}
    # Every token of every turn passes here: no model instance per row (bulk_create costs
    # several times more per event).
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        cursor.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
        ids.update({(task_pk, seq): event_id for event_id, task_pk, seq in cursor.fetchall()})
    return ids


def _store_postgres(batches: list[RunBatch], *, wait_for_flush: bool) -> dict[tuple[int, int], int]:
    """One prepared statement, one round trip (in autocommit it is its own transaction): it takes the
    log lock (so that event ids commit in id order), sets how its transaction commits (below),
    moves each task's `last_seq` on, queues the NOTIFYs naming the tasks for the other workers
    (sent at commit) and inserts the events, numbered after the old `last_seq`, their ids drawn
    in the order they were emitted. The events travel as one JSON array, spliced from their
    stored JSON: psycopg quotes a text array element by element in Python, which cost more than
    the rest of the write.

    Unless `wait_for_flush`, the write commits without waiting for its WAL to reach the disk
    (`synchronous_commit` off for its transaction only); readers see it at once. That is the
    ENGINE_EVENTS_SYNC_COMMIT=false trade, off by default: a crash of PostgreSQL itself can lose
    the last fraction of a second of such writes, and as the tasks' `last_seq` and the id
    sequence go back with them, events written after the recovery can reuse the numbers of
    lost events that clients had seen. A write that changes a run (a turn's end, a pause on a
    human) or is part of a caller's transaction always waits, and makes every earlier write
    durable with it: WAL is flushed in order. The wait had been a third of the time of a first
    token's write."""
    if not any(batch.events for batch in batches):
        return {}
    within_task: dict[int, int] = {}
    rows = []
    for batch in batches:
        run_id = json.dumps(batch.run_id)
        for event in batch.events:
            within_task[batch.task.pk] = position = within_task.get(batch.task.pk, 0) + 1
            rows.append(f'[{batch.task.pk},{run_id},{position},{event.ts},"{event.type}",{event.data_json}]')
    returned = fetch_prepared(_POSTGRES_APPEND, [
        f"[{','.join(rows)}]", EVENT_LOG_LOCK, None if wait_for_flush else "off", wakeups.EVENTS_CHANNEL, wakeups.notice_prefix(),
    ])
    first_seq: dict[int, int] = {}
    for _, task_pk, seq in returned:
        first_seq[task_pk] = min(seq, first_seq.get(task_pk, seq))
    _number(batches, {task_pk: seq - 1 for task_pk, seq in first_seq.items()})
    return {(task_pk, seq): event_id for event_id, task_pk, seq in returned}


# The tasks of a write go out in NOTIFYs of a JSON list each, cut into parts that fit PostgreSQL's
# 8,000-byte payload: one notice per task had cost every commit of a hundred streaming turns a
# hundred notices, which each worker's listener then read, its own included. A part holds less
# than NOTICE_TASK_BYTES plus one task id (at most 200 characters: 1,202 bytes as JSON) plus its
# brackets and the sender's mark. Each id counts its ", " separator. `noticed` is a plain SELECT,
# which PostgreSQL only runs when it is read: the insert's condition reads all of it.
NOTICE_TASK_BYTES = 6000
_POSTGRES_APPEND = f"""
WITH incoming AS (
    SELECT (e->>0)::bigint AS task_id, e->>1 AS run_id, (e->>2)::bigint AS k, (e->>3)::bigint AS ts,
           e->>4 AS type, e->5 AS data, emitted
    FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(e, emitted)
),
counts AS (SELECT task_id, COUNT(*) AS n FROM incoming GROUP BY task_id),
log_lock AS MATERIALIZED (
    SELECT pg_advisory_xact_lock(%s), set_config('synchronous_commit', COALESCE(%s, current_setting('synchronous_commit')), true)
),
numbered AS (
    UPDATE {Task._meta.db_table} t SET last_seq = t.last_seq + counts.n FROM counts, log_lock
    WHERE t.id = counts.task_id
    RETURNING t.id, t.last_seq - counts.n AS base, t.task_id
),
noticed AS (
    SELECT pg_notify(%s, %s || json_agg(task_id)::text) FROM (
        SELECT task_id, sum(octet_length(to_json(task_id)::text) + 2) OVER (ORDER BY id) / {NOTICE_TASK_BYTES} AS part
        FROM numbered
    ) tasks GROUP BY part
)
INSERT INTO {Event._meta.db_table} (task_id, run_id, seq, ts, type, data)
SELECT incoming.task_id, incoming.run_id, numbered.base + incoming.k, incoming.ts, incoming.type, incoming.data
FROM incoming JOIN numbered ON numbered.id = incoming.task_id
WHERE (SELECT count(*) FROM noticed) > 0
ORDER BY incoming.emitted
RETURNING id, task_id, seq
"""


def _number(batches: list[RunBatch], last_before: dict[int, int]) -> None:
    """Gives every event its task sequence number, after `last_before[task]`, in order: a
    task's earlier batch gets the lower numbers."""
    next_seq = {task_pk: last + 1 for task_pk, last in last_before.items()}
    for batch in batches:
        for event in batch.events:
            event.seq = next_seq[batch.task.pk]
            next_seq[batch.task.pk] += 1


def append_now(*, task: Task, run_id: str, events: list[tuple[str, dict]], run_update: dict | None = None) -> None:
    """Appends events outside a run's writer (a human's answer, the watchdog), at once."""
    append_batches([RunBatch(task=task, run_id=run_id, events=[PendingEvent(t, d) for t, d in events], run_update=run_update)])


INSERT_CHUNK = 500


def _json(data: dict) -> str:
    """Every event passes here, so the two repairs are only made where they can be needed."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        # Lone surrogates (possible in a model's output) cannot be stored as UTF-8: replace them.
        text = text.encode("utf-8", "replace").decode("utf-8")
    if "\\u0000" in text and settings.DATABASE_IS_POSTGRES:
        # PostgreSQL's jsonb refuses the NUL character (an unescaped \u0000); no model output needs it.
        text = _JSON_NUL.sub(r"\1", text)
    return text


_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * rows)
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
    extra = f'"task_id":{_json_string(event.task_id)},"run_id":"{event.run_id}","seq":{event.seq},"ts":{event.ts}}}'
    body = event.data_json.rstrip()
    data = body[:-1] + ("," if body[1:-1].strip() else "") + extra
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


@functools.lru_cache(maxsize=4096)
def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def encode_heartbeat(*, task_id: str | None, run_id: str | None) -> bytes:
    data = json.dumps({"task_id": task_id, "run_id": run_id, "ts": now_ms()}, separators=(",", ":"))
    return f"event: heartbeat\ndata: {data}\n\n".encode()
