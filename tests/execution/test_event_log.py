"""The event log's writer: numbering across tasks in one write, and urgent events that never
wait behind a burst of deltas."""

import gevent
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from execution.appender import EventWriter
from execution.eventlog import PendingEvent, RunBatch, _store_postgres, append_batches, read_events
from execution.models import Run, RunStatus, Task

pytestmark = pytest.mark.django_db(transaction=True)


def a_run(task_id: str, *, last_seq: int = 0) -> tuple[Task, Run]:
    task = Task.objects.create(task_id=task_id, last_seq=last_seq)
    # Finished, so that a watchdog left running by an earlier test never closes it as lost
    # (which appends events of its own).
    return task, Run.objects.create(task=task, status=RunStatus.COMPLETED, ended_at=timezone.now())


def test_one_write_numbers_each_task_after_its_own_last_event_in_batch_order():
    task_a, run_a = a_run("numbered-a", last_seq=7)
    task_b, run_b = a_run("numbered-b")
    batches = [
        RunBatch(task=task_a, run_id=run_a.id, events=[PendingEvent("text_delta", {"text": "a1"}), PendingEvent("text_delta", {"text": "a2"})]),
        RunBatch(task=task_b, run_id=run_b.id, events=[PendingEvent("text_delta", {"text": "b1"})]),
        RunBatch(task=task_a, run_id=run_a.id, events=[PendingEvent("text_delta", {"text": "a3"})]),
    ]
    append_batches(batches)
    assert [event.seq for batch in batches for event in batch.events] == [8, 9, 1, 10]
    stored = read_events(after_id=0)
    assert [(event.task_id, event.seq, event.data["text"]) for event in stored] == [
        ("numbered-a", 8, "a1"), ("numbered-a", 9, "a2"), ("numbered-b", 1, "b1"), ("numbered-a", 10, "a3"),
    ]
    assert list(Task.objects.order_by("task_id").values_list("last_seq", flat=True)) == [10, 1]


def test_an_urgent_event_is_written_at_the_next_switch_while_deltas_coalesce():
    task, run = a_run("urgent")
    writer = EventWriter(task=task, run_id=run.id)
    writer.emit("thread_lifecycle", {"phase": "started"})
    writer.flush()  # written just now: the next deltas are a burst, held a few ms to share a write
    writer.emit("text_delta", {"text": "held"})
    gevent.sleep(0)  # the appender starts holding the burst
    writer.emit("content_block_stop", {"block_index": 0})
    # A model streaming fast yields between tokens without ever blocking; before the fix the
    # appender slept on a timer that the hub only looked at once the spinning stopped.
    switches = 0
    while writer.queue and switches < 2000:
        gevent.sleep(0)
        switches += 1
    assert not writer.queue and switches <= 2
    assert [event.type for event in read_events(after_id=0)] == ["thread_lifecycle", "text_delta", "content_block_stop"]


def _event_writes_of(action) -> int:
    """How many event writes (INSERT statements into the log) `action` sends."""
    writes = []

    def count(execute, sql, params, many, context):
        if "INSERT INTO execution_event" in sql:
            writes.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        action()
    return len(writes)


def test_a_held_event_waits_outside_a_burst_and_shares_the_next_urgent_write():
    from execution import appender

    task, run = a_run("held")
    writer = EventWriter(task=task, run_id=run.id)

    def started_then_first_token():
        gevent.sleep(appender.QUIET_SECONDS)  # no burst: an ordinary urgent event would go at once
        writer.emit("thread_lifecycle", {"phase": "started"}, hold=True)
        for _ in range(20):  # a turn's memory searches and model call, switching without blocking
            gevent.sleep(0)
        assert [event.type for event in writer.queue] == ["thread_lifecycle"]  # still waiting
        writer.emit("text_delta", {"text": "first"}, urgent=True)
        writer.flush()

    assert _event_writes_of(started_then_first_token) == 1
    assert [event.type for event in read_events(after_id=0)] == ["thread_lifecycle", "text_delta"]


def test_a_held_event_alone_is_written_after_the_coalescing_window():
    import time

    from execution import appender

    task, run = a_run("held-alone")
    writer = EventWriter(task=task, run_id=run.id)
    gevent.sleep(appender.QUIET_SECONDS)
    began = time.monotonic()
    writer.emit("thread_lifecycle", {"phase": "started"}, hold=True)
    while writer.queue and time.monotonic() - began < 1:
        gevent.sleep(0.0005)
    waited = time.monotonic() - began
    assert not writer.queue and appender.COALESCE_SECONDS * 0.8 <= waited < 0.5
    assert [event.type for event in read_events(after_id=0)] == ["thread_lifecycle"]


def test_a_worker_is_woken_by_other_workers_notices_not_by_its_own():
    from execution import wakeups

    with wakeups.Subscription("noticed") as subscription, wakeups.Subscription("quiet") as quiet:
        wakeups.on_notice(wakeups.EVENTS_CHANNEL, f'{wakeups._process_mark()}{wakeups.MARK_END}["noticed"]')
        assert not subscription.signal.is_set()  # its own append handed the events over already
        wakeups.on_notice(wakeups.EVENTS_CHANNEL, f'4242@elsewhere{wakeups.MARK_END}["other", "noticed"]')
        assert subscription.signal.is_set() and subscription.take() == ([], True)
        assert not quiet.signal.is_set()


def test_a_write_without_events_still_changes_its_run():
    task = Task.objects.create(task_id="quiet", last_seq=3)
    run = Run.objects.create(task=task, status=RunStatus.WAITING)  # open, but no watchdog closes a waiting run
    append_batches([])
    append_batches([RunBatch(task=task, run_id=run.id, events=[], run_update={"error_message": "noted"})])
    assert Run.objects.get(pk=run.pk).error_message == "noted"
    assert Task.objects.get(pk=task.pk).last_seq == 3 and read_events(after_id=0) == []


def test_events_carry_no_index_by_run_or_by_task_alone(db):
    """Every token is a row: an index of the run's random id doubled the cost of each insert."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "execution_event")
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"]}
    assert ("run_id",) not in indexed and ("task_id",) not in indexed
    assert {("task_id", "seq"), ("task_id", "id"), ("ts",)} <= indexed


def test_awkward_text_survives_the_write_exactly():
    """Events travel to PostgreSQL spliced into one JSON array: quotes, backslashes, newlines,
    non-ASCII and a NUL (which jsonb refuses, so it is dropped) must come back as sent."""
    task, run = a_run("awkward")
    texts = ['say "hi"\\n', "line\nbreak\ttab", "żółw 🐢 \\u0000 literal", "nul\x00byte", "]}, {\"x\": ["]
    append_batches([RunBatch(task=task, run_id=run.id, events=[PendingEvent("text_delta", {"text": t}) for t in texts])])
    stored = [event.data["text"] for event in read_events(after_id=0, task_id="awkward")]
    assert stored[:3] == texts[:3] and stored[4] == texts[4]
    assert stored[3] in ("nul\x00byte", "nulbyte")  # SQLite keeps the NUL; PostgreSQL's jsonb cannot


@pytest.mark.postgres
@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="NOTIFY is PostgreSQL's")
def test_one_write_tells_the_other_workers_every_task_in_notices_that_fit():
    import itertools
    import json
    import string

    import psycopg

    from execution import wakeups
    from tests.live_server import database_url_for_server

    # Two-character ids, whose ", " separators are a third of their bytes, and among them one of
    # the longest ids there can be (200 control characters: 1,202 bytes as JSON), placed where
    # a count of one byte per separator would have made a notice of 8,413 bytes.
    short_ids = ["".join(pair) for pair in itertools.product(string.ascii_letters + string.digits, repeat=2)][:2400]
    task_ids = [*short_ids[:960], "\x01" * 200, *short_ids[960:]]
    tasks = Task.objects.bulk_create([Task(task_id=task_id) for task_id in task_ids])
    runs = Run.objects.bulk_create([Run(task=task, status=RunStatus.COMPLETED, ended_at=timezone.now()) for task in tasks])
    with psycopg.connect(database_url_for_server(), autocommit=True) as listening:
        listening.execute(f"LISTEN {wakeups.EVENTS_CHANNEL}")
        append_batches([RunBatch(task=task, run_id=run.id, events=[PendingEvent("text_delta", {"text": "hi"})])
                        for task, run in zip(tasks, runs)])
        payloads = [notice.payload for notice in listening.notifies(timeout=1, stop_after=100)]
    assert 2 <= len(payloads) <= 4  # about 16,000 bytes of JSON, at most 8,000 a notice
    assert max(len(payload.encode()) for payload in payloads) < 8000
    named = [task_id for payload in payloads for task_id in json.loads(payload.partition(wakeups.MARK_END)[2])]
    assert sorted(named) == sorted(task_ids)


def test_a_notice_from_a_worker_of_the_version_before_still_wakes_its_task():
    from execution import wakeups

    with wakeups.Subscription("[not a list") as odd, wakeups.Subscription("plain") as plain:
        wakeups.on_notice(wakeups.EVENTS_CHANNEL, f"4242@elsewhere{wakeups.MARK_END}plain")
        wakeups.on_notice(wakeups.EVENTS_CHANNEL, f"4242@elsewhere{wakeups.MARK_END}[not a list")
        assert plain.signal.is_set() and odd.signal.is_set()


def _appends_of(action) -> list[tuple[str | None, str]]:
    """For each event write `action` sends: the commit mode it asks for (None: the server's), and
    the `synchronous_commit` its transaction has right after it (inside a test's transaction,
    the write's own)."""
    appends = []

    def read_back(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "INSERT INTO execution_event" in sql:
            with context["connection"].cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                appends.append((params[2], cursor.fetchone()[0]))
        return result

    with connection.execute_wrapper(read_back):
        action()
    return appends


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="synchronous_commit is PostgreSQL's")
def test_only_writes_that_change_no_run_commit_without_waiting_for_the_flush(settings):
    settings.ENGINE_EVENTS_SYNC_COMMIT = False
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        server_default = cursor.fetchone()[0]
    task, run = a_run("flushing")
    delta = lambda: RunBatch(task=task, run_id=run.id, events=[PendingEvent("text_delta", {"text": "x"})])  # noqa: E731
    # Each write is its own transaction but for the test's: read the setting inside one.
    with transaction.atomic():
        assert _appends_of(lambda: _store_postgres([delta()], wait_for_flush=False)) == [("off", "off")]
    with transaction.atomic():
        assert _appends_of(lambda: _store_postgres([delta()], wait_for_flush=True)) == [(None, server_default)]
    with connection.cursor() as cursor:  # the setting did not outlive the writes
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == server_default

    closing = RunBatch(task=task, run_id=run.id, events=[PendingEvent("thread_lifecycle", {"phase": "completed"})],
                       run_update={"error_message": "closing"})

    def every_kind_of_write():
        append_batches([delta()])  # a delta of a turn in flight
        append_batches([delta(), closing])  # a turn's end: its run changes
        with transaction.atomic():  # a caller's transaction (the watchdog's, a cancel's)
            append_batches([delta()])
        settings.ENGINE_EVENTS_SYNC_COMMIT = True  # the default
        append_batches([delta()])

    decided = [asked is None for asked, _ in _appends_of(every_kind_of_write)]  # waits for the flush?
    assert decided == [False, True, True, True]
