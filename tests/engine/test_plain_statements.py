"""engine.db's plain statements store and read exactly what the ORM would."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engine.db import fetch_instances, fetch_prepared, insert_instance, update_rows
from execution.models import Message, MessageRole, Run, RunStatus, Task

pytestmark = pytest.mark.django_db


def test_an_inserted_instance_reads_back_through_the_orm_as_written():
    task = Task(task_id="plain-1")
    assert insert_instance(task)
    assert task.pk is not None and not task._state.adding  # the auto id came back
    started = timezone.now() - timedelta(seconds=3)
    run = Run(task=task, status=RunStatus.RUNNING, options={"message": "héllo", "media": [{"n": 1}]}, started_at=started)
    assert insert_instance(run)

    stored = Run.objects.get(pk=run.pk)
    assert stored.options == {"message": "héllo", "media": [{"n": 1}]}
    assert stored.started_at == started
    assert stored.created_at is not None and abs(stored.created_at - timezone.now()) < timedelta(seconds=5)  # auto_now_add
    assert stored.usage == {} and stored.worker == ""  # the fields' defaults
    assert Task.objects.get(pk=task.pk).last_seq == 0


def test_skip_conflicts_skips_a_row_that_breaks_a_unique_constraint():
    task = Task.objects.create(task_id="plain-2")
    assert insert_instance(Run(task=task, status=RunStatus.RUNNING), skip_conflicts=True)
    # The busy rule's partial unique index: a second active run is not written.
    assert not insert_instance(Run(task=task, status=RunStatus.WAITING), skip_conflicts=True)
    assert insert_instance(Run(task=task, status=RunStatus.QUEUED), skip_conflicts=True)
    assert sorted(Run.objects.filter(task=task).values_list("status", flat=True)) == ["queued", "running"]
    assert not insert_instance(Task(task_id="plain-2"), skip_conflicts=True)
    assert Task.objects.filter(task_id="plain-2").count() == 1


def test_fetched_instances_have_the_orm_types():
    task = Task.objects.create(task_id="plain-3")
    written = Message.objects.create(task=task, role=MessageRole.USER, content=[{"type": "text", "text": "a"}], position=4)
    [fetched] = fetch_instances(Message, None, "task_id = %s", [task.pk])
    assert fetched == written
    assert fetched.content == [{"type": "text", "text": "a"}]
    assert fetched.created_at == Message.objects.get(pk=written.pk).created_at
    assert fetched.superseded is False and fetched.position == 4
    [partial] = fetch_instances(Task, ["id", "last_seq"], "task_id = %s", ["plain-3"])
    assert (partial.pk, partial.last_seq) == (task.pk, 0)
    assert fetch_instances(Task, ["id"], "task_id = %s", ["nobody"]) == []


def test_update_rows_adapts_values_and_counts_the_rows_changed():
    task = Task.objects.create(task_id="plain-4")
    run = Run.objects.create(task=task, status=RunStatus.RUNNING)
    ended = timezone.now()
    changed = update_rows(Run, {"status": RunStatus.COMPLETED, "ended_at": ended, "usage": {"input_tokens": 3}},
                          "id = %s AND status = %s", [run.pk, RunStatus.RUNNING])
    assert changed == 1
    run.refresh_from_db()
    assert (run.status, run.ended_at, run.usage) == ("completed", ended, {"input_tokens": 3})
    assert update_rows(Run, {"status": RunStatus.ERRORED}, "id = %s AND status = %s", [run.pk, RunStatus.RUNNING]) == 0


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="runs in the PostgreSQL pass (DATABASE_URL)")
def test_a_prepared_statement_is_planned_once_and_seen_like_any_other():
    sql = "SELECT task_id, last_seq + %s FROM execution_task WHERE task_id = %s"
    Task.objects.create(task_id="prepared", last_seq=4)
    with CaptureQueriesContext(connection) as captured:
        assert fetch_prepared(sql, [1, "prepared"]) == [("prepared", 5)]
        assert fetch_prepared(sql, [2, "prepared"]) == [("prepared", 6)]
    # The query log has their text, which psycopg does not keep for a prepared statement.
    assert [query["sql"] for query in captured.captured_queries] == [
        "SELECT task_id, last_seq + 1 FROM execution_task WHERE task_id = 'prepared'",
        "SELECT task_id, last_seq + 2 FROM execution_task WHERE task_id = 'prepared'",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%last_seq + $1%"])
        # Prepared once, run twice, on the connection of this test, with the plan made once.
        assert cursor.fetchall() == [(2, 0)]
    with pytest.raises(IntegrityError):  # Django's errors, not psycopg's
        fetch_prepared("INSERT INTO execution_task (task_id, created_at, last_seq) VALUES (%s, now(), 0) RETURNING id", ["prepared"])
