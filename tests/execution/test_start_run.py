"""Starting a turn writes the task, the run and the user message as the ORM would, and on
PostgreSQL a new message on a task that is not busy costs one statement."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution import services
from execution.errors import TaskBusy
from execution.models import Message, Run, RunStatus, Task

pytestmark = pytest.mark.django_db  # in a test transaction: nothing launches (on_commit)


def turn(task_id: str, message: str = "hello", **extra) -> services.TurnRequest:
    return services.TurnRequest(task_id=task_id, message=message, direct=True, **extra)


def statements_of(action) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as captured:
        result = action()
    return result, len(captured.captured_queries)


def test_a_first_turn_writes_its_task_run_and_message_as_the_orm_reads_them():
    run, statements = statements_of(lambda: services.start_run(turn("start-1", media=[{"type": "image", "data": "eA=="}])))
    if settings.DATABASE_IS_POSTGRES:
        assert statements == 1

    stored = Run.objects.select_related("task").get(pk=run.pk)
    assert stored.task.task_id == "start-1" and stored.task.pk == run.task.pk
    assert (stored.status, stored.worker) == (RunStatus.RUNNING, run.worker) and run.worker
    assert stored.options == run.options
    assert stored.options["opens_task"] is True and stored.options["direct"] is True
    assert stored.started_at == run.started_at and stored.heartbeat_at == run.heartbeat_at
    assert stored.created_at is not None and stored.usage == {} and stored.error_code == ""
    assert run.task.last_seq == 0 and not run._state.adding and not run.task._state.adding
    [message] = Message.objects.filter(task__task_id="start-1")
    assert (message.id, message.run_id, message.role, message.position) == (run.options["message_id"], run.pk, "user", 0)
    assert message.content == [{"type": "text", "text": "hello"}, {"type": "image", "data": "eA=="}]
    assert message.superseded is False and message.created_at is not None


def test_a_later_turn_follows_the_thread_and_does_not_open_the_task():
    first = services.start_run(turn("start-2", "one"))
    Run.objects.filter(pk=first.pk).update(status=RunStatus.COMPLETED)
    Message.objects.create(task=first.task, run=first, role="assistant", content=[{"type": "text", "text": "ok"}], position=1)
    Task.objects.filter(pk=first.task.pk).update(last_seq=7)

    second, statements = statements_of(lambda: services.start_run(turn("start-2", "two")))
    if settings.DATABASE_IS_POSTGRES:
        assert statements == 1
    assert second.task.pk == first.task.pk and second.task.last_seq == 7
    assert second.options["opens_task"] is False
    assert Run.objects.get(pk=second.pk).options["opens_task"] is False
    thread = list(Message.objects.filter(task=first.task).order_by("position").values_list("position", "role"))
    assert thread == [(0, "user"), (1, "assistant"), (2, "user")]
    assert Task.objects.filter(task_id="start-2").count() == 1


def test_a_busy_task_refuses_the_turn_and_writes_nothing_or_queues_it():
    active = services.start_run(turn("start-3", "one"))
    with pytest.raises(TaskBusy) as refused:
        services.start_run(turn("start-3", "two"))
    assert refused.value.extra["active_run_id"] == active.pk
    assert Run.objects.filter(task=active.task).count() == 1
    assert Message.objects.filter(task=active.task).count() == 1

    queued = services.start_run(turn("start-3", "two", queue=True))
    assert queued.status == RunStatus.QUEUED
    assert sorted(Run.objects.filter(task=active.task).values_list("status", flat=True)) == ["queued", "running"]
    assert Message.objects.filter(task=active.task).count() == 1  # a queued turn writes its message when it starts


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="runs in the PostgreSQL pass (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_a_task_another_request_is_creating_at_that_moment_gets_the_turn_once_it_exists():
    import threading

    import psycopg

    from tests.live_server import database_url_for_server

    other = psycopg.connect(database_url_for_server())  # a transaction of its own, left open
    other.execute(f"INSERT INTO {Task._meta.db_table} (task_id, created_at, last_seq) VALUES ('start-race', now(), 0)")
    started = {}

    def start() -> None:
        try:
            started["run"] = services.start_run(turn("start-race"))
        finally:
            connection.close()

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # the statement waits on the other insert of that task_id
    other.commit()
    other.close()
    thread.join(10)

    run = started["run"]
    assert run.task.task_id == "start-race" and run.options["opens_task"] is False
    assert Task.objects.filter(task_id="start-race").count() == 1
    assert list(Message.objects.filter(run_id=run.pk).values_list("position", flat=True)) == [0]
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="runs in the PostgreSQL pass (DATABASE_URL)")
def test_the_one_statement_start_also_reads_the_worker_cache_stamps():
    from engine.worker_cache import current_stamps

    (run, stamps), statements = statements_of(lambda: services._start_in_one_statement(turn("start-stamps")))
    assert statements == 1
    assert stamps == current_stamps() and set(stamps) == {"soul", "skills", "connections"}
    assert "stamps" not in Run.objects.get(pk=run.pk).options  # they travel with the launch, not in the run


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="synchronous_commit is PostgreSQL's")
def test_the_start_leaves_its_flush_to_the_first_event_write_only_while_those_writes_wait(settings):
    """Nothing of the turn reaches a client before its first event write, which flushes the
    start's WAL with its own; with ENGINE_EVENTS_SYNC_COMMIT=false that write may not wait."""

    def commit_mode_after_start(task_id: str) -> str:
        # The test's transaction is the start's: read the setting inside it.
        services._start_in_one_statement(turn(task_id))
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        server_default = cursor.fetchone()[0]
    settings.ENGINE_EVENTS_SYNC_COMMIT = False  # first: the setting lasts to the transaction's end
    assert commit_mode_after_start("start-commit-a") == server_default == "on"
    settings.ENGINE_EVENTS_SYNC_COMMIT = True
    assert commit_mode_after_start("start-commit-b") == "off"
