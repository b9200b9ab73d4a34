"""Upgrading a database that already holds events: ids are never handed out twice."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from execution.eventlog import PendingEvent, RunBatch, append_batches
from execution.models import Event, Run, Task

BEFORE, AFTER = ("execution", "0002_compaction_workingmemory"), ("execution", "0003_event_indexes_for_appends")


def migrate_to(target) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes() if target is None else [target])


@pytest.mark.django_db(transaction=True)
def test_event_ids_purged_before_0003_are_not_handed_out_again():
    migrate_to(BEFORE)
    try:
        apps = MigrationExecutor(connection).loader.project_state([BEFORE], at_end=True).apps
        old_task, old_run, old_event = (apps.get_model("execution", name) for name in ("Task", "Run", "Event"))
        task = old_task.objects.create(task_id="upgraded", last_seq=5)
        run = old_run.objects.create(id="run_upgraded", task=task, status="completed")
        for seq in range(1, 6):
            old_event.objects.create(task=task, run=run, seq=seq, ts=seq, type="text_delta", data={})
        newest = old_event.objects.order_by("-id").first().id
        old_event.objects.filter(seq__gt=2).delete()  # the purge took the newest events
        migrate_to(AFTER)
    finally:
        migrate_to(None)
    task = Task.objects.get(task_id="upgraded")
    batch = RunBatch(task=task, run_id=Run.objects.get().id, events=[PendingEvent("text_delta", {"text": "after"})])
    append_batches([batch])
    appended = Event.objects.get(seq=6)
    assert appended.id > newest
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Event._meta.db_table)
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"]}
    assert ("run_id",) not in indexed and ("task_id",) not in indexed
    assert {("task_id", "seq"), ("task_id", "id"), ("ts",)} <= indexed
    foreign_keys = {tuple(c["columns"]) for c in constraints.values() if c["foreign_key"]}
    assert {("task_id",), ("run_id",)} <= foreign_keys


@pytest.mark.django_db(transaction=True)
def test_0003_goes_back_to_indexes_of_each_foreign_key():
    migrate_to(BEFORE)
    try:
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, Event._meta.db_table)
        indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
        assert {("run_id",), ("task_id",)} <= indexed
    finally:
        migrate_to(None)
