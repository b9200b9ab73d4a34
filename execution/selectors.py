"""Reads that several modules share."""

from execution.models import ACTIVE_STATUSES, Message, Run, RunStatus, Task

LIVE_STATUSES = [*ACTIVE_STATUSES, RunStatus.QUEUED]


def run_is_finished(run_id: str) -> bool:
    return not Run.objects.filter(id=run_id, status__in=LIVE_STATUSES).exists()


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
    messages = Message.objects.filter(task=task, superseded=False)
    if up_to_position is not None:
        messages = messages.filter(position__lte=up_to_position)
    return list(messages.order_by("position"))


def next_position(task: Task) -> int:
    last = Message.objects.filter(task=task).order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


def task_last_seq(task_id: str) -> int:
    return Task.objects.filter(task_id=task_id).values_list("last_seq", flat=True).first() or 0
