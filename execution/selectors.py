"""Reads that several modules share. The ones on every turn's path are plain statements
(engine.db): compiling the ORM query would cost more than running it."""

from django.db import connection

from engine.db import fetch_instances
from execution.models import ACTIVE_STATUSES, Message, Run, RunStatus, Task

LIVE_STATUSES = [*ACTIVE_STATUSES, RunStatus.QUEUED]


def run_is_finished(run_id: str) -> bool:
    return not fetch_instances(Run, ["id"], f"id = %s AND status IN ({', '.join(['%s'] * len(LIVE_STATUSES))})",
                               [run_id, *LIVE_STATUSES])


def has_live_run(task_id: str | None) -> bool:
    """Whether a turn is going (or queued) on that task, or on any task for None."""
    runs = Run.objects.filter(status__in=LIVE_STATUSES)
    if task_id is not None:
        runs = runs.filter(task__task_id=task_id)
    return runs.exists()


def active_run(task: Task) -> Run | None:
    return Run.objects.filter(task=task, status__in=ACTIVE_STATUSES).first()


def conversation(task: Task, *, up_to_position: int | None = None) -> list[Message]:
    """The thread as the model sees it: messages not superseded, in order."""
    where, params = "task_id = %s AND superseded = %s", [task.pk, False]
    if up_to_position is not None:
        where, params = f"{where} AND position <= %s", [*params, up_to_position]
    return fetch_instances(Message, None, where, params, tail="ORDER BY position")


def next_position(task: Task) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(position) FROM {Message._meta.db_table} WHERE task_id = %s", [task.pk])
        last = cursor.fetchone()[0]
    return 0 if last is None else last + 1


def task_last_seq(task_id: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_seq FROM {Task._meta.db_table} WHERE task_id = %s", [task_id])
        row = cursor.fetchone()
    return row[0] if row else 0
