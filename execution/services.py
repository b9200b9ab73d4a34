"""Starting, queueing and cancelling turns; the thread's messages around edits and retries."""

import functools
import json
import logging
from dataclasses import dataclass, field

import gevent
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from engine.db import fetch_instances, fetch_prepared, insert_instance, insert_values
from engine.worker_cache import STAMP_TABLE
from execution import runner, selectors, wakeups
from execution.eventlog import append_now, iso_now
from execution.context import MemorySearch
from execution.errors import MessageNotFound, NoActiveRun, TaskBusy, TaskNotFound
from execution.models import Message, MessageRole, Run, RunStatus, Task, new_message_id

logger = logging.getLogger(__name__)
CANCEL_WAIT_SECONDS = 5.0


@dataclass
class TurnRequest:
    task_id: str
    message: str = ""
    media: list[dict] = field(default_factory=list)
    direct: bool = False
    edit_message_id: str | None = None
    retry_message_id: str | None = None
    queue: bool = False

    def options(self) -> dict:
        return {
            "message": self.message,
            "media": self.media,
            "direct": self.direct,
            "edit_message_id": self.edit_message_id,
            "retry_message_id": self.retry_message_id,
        }


def start_run(turn: TurnRequest) -> Run:
    """Creates the run for one turn and launches it once committed.

    Raises TaskBusy when a turn is active on the task (unless `turn.queue`: then the run waits
    as `queued` and starts when the active one ends), MessageNotFound for an edit or retry of a
    message that is not a live user message of this task. Nothing is written when it raises.
    Every request of a turn passes here, so its statements are plain ones (engine.db); on
    PostgreSQL a new message on a task that is not busy is one statement (`_start_in_one_statement`)."""
    if settings.DATABASE_IS_POSTGRES and not (turn.edit_message_id or turn.retry_message_id):
        # The memory searches wait on the database alongside the statement (on SQLite, where
        # nothing waits, they would only come first); unused if the turn does not start now.
        searched = MemorySearch(turn.message) if turn.message.strip() else None
        started = _start_in_one_statement(turn)
        if started is not None:
            run, stamps = started
            transaction.on_commit(lambda: runner.launch(run, stamps=stamps, searched=searched))
            return run
    return _start_in_transaction(turn)


@transaction.atomic
def _start_in_transaction(turn: TurnRequest) -> Run:
    task, created = _task_named(turn.task_id)
    _check_target(task, turn.edit_message_id or turn.retry_message_id)
    run = _new_run(task, turn, opens_task=created)
    # The database enforces the busy rule (one active run per task): a second one is skipped.
    if not insert_instance(run, skip_conflicts=True):
        active = selectors.active_run(task)
        if not turn.queue:
            raise TaskBusy(f"Task {task.task_id} is busy with run {active.id if active else '?'}; "
                           "wait for it, cancel it, or send queue=true.", active_run_id=active and active.id)
        run.status, run.started_at, run.heartbeat_at, run.worker = RunStatus.QUEUED, None, None, ""
        insert_instance(run)
        # The active turn may end before this commits and find no queued run: look again after.
        transaction.on_commit(lambda: promote_next_queued(task))
        return run
    _record_user_turn(run)
    transaction.on_commit(lambda: runner.launch(run))
    return run


def _new_run(task: Task, turn: TurnRequest, *, opens_task: bool) -> Run:
    # The message this turn answers: the retried one, or the new one it is about to write.
    # `opens_task`: the thread is that one message, so the turn need not read it back.
    options = {**turn.options(), "message_id": turn.retry_message_id or new_message_id(), "opens_task": opens_task}
    now = timezone.now()
    return Run(task=task, status=RunStatus.RUNNING, options=options, started_at=now, heartbeat_at=now,
               worker=runner.worker_id())


def _start_in_one_statement(turn: TurnRequest) -> tuple[Run, dict[str, int]] | None:
    """PostgreSQL: finds or creates the task, writes the running run (the busy rule's index
    skips it when a turn is active) and the user message, in one autocommit statement: a
    transaction of five round trips had been the longest wait before a turn's first token.
    It also reads the stamps of the worker's copies (engine.worker_cache), returned with the
    run. None when nothing was written (the task is busy, or another request was creating it
    at that moment): the transaction of `_start_in_transaction` then decides. While event
    writes wait for their WAL flush (ENGINE_EVENTS_SYNC_COMMIT, the default) the statement
    commits without waiting for its own (README, What a crash can take)."""
    task = Task(task_id=turn.task_id)
    run = _new_run(task, turn, opens_task=False)  # the statement sets `opens_task` itself
    message = Message(id=run.options["message_id"], task=task, run=run, role=MessageRole.USER,
                      content=user_content(run.options), position=0)
    sql, task_fields, run_fields, message_fields = _one_statement_start()
    # The turn's first event write flushes this WAL with its own, and nothing of the turn reaches
    # its client before that write is durable (a fsync: a sixth of the statement's time).
    commit_mode = "off" if settings.ENGINE_EVENTS_SYNC_COMMIT else None
    params = [turn.task_id, *insert_values(task, task_fields), *insert_values(run, run_fields),
              *insert_values(message, message_fields), commit_mode]
    rows = fetch_prepared(sql, params)
    if not rows:
        return None
    task.pk, task.last_seq, created, run_written, stamps, _ = rows[0]
    if not run_written:
        return None
    task._state.adding, run._state.adding = False, False
    run.task = task  # again, now that the task has its id (run.task_id was None)
    run.options["opens_task"] = created
    return run, json.loads(stamps or "{}")


@functools.cache
def _one_statement_start() -> tuple[str, list, list, list]:
    """The statement of `_start_in_one_statement`, and the fields whose values it takes, in
    order (the task's, the run's and the message's, but for what the statement fills in)."""
    quote = connection.ops.quote_name
    task_table, run_table, message_table = (quote(m._meta.db_table) for m in (Task, Run, Message))
    task_fields = [f for f in Task._meta.concrete_fields if not f.primary_key]
    run_fields = [f for f in Run._meta.concrete_fields if f.name != "task"]
    message_fields = [f for f in Message._meta.concrete_fields if f.name not in ("task", "position")]

    def columns(fields, *extra):
        return ", ".join([*(quote(f.column) for f in fields), *extra])

    run_values = ["%s || jsonb_build_object('opens_task', task.created)" if f.name == "options" else "%s" for f in run_fields]
    sql = f"""
WITH found AS (SELECT id, last_seq FROM {task_table} WHERE task_id = %s),
made AS (
    INSERT INTO {task_table} ({columns(task_fields)})
    SELECT {", ".join(["%s"] * len(task_fields))} WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT DO NOTHING RETURNING id, last_seq
),
task AS (SELECT id, last_seq, false AS created FROM found UNION ALL SELECT id, last_seq, true FROM made),
run AS (
    INSERT INTO {run_table} ({columns(run_fields, "task_id")})
    SELECT {", ".join(run_values)}, task.id FROM task
    ON CONFLICT DO NOTHING RETURNING id
),
message AS (
    INSERT INTO {message_table} ({columns(message_fields, "task_id", "position")})
    SELECT {", ".join(["%s"] * len(message_fields))}, task.id,
           CASE WHEN task.created THEN 0
                ELSE (SELECT COALESCE(MAX(position) + 1, 0) FROM {message_table} WHERE task_id = task.id) END
    FROM task, run
    RETURNING id
)
SELECT task.id, task.last_seq, task.created, EXISTS (SELECT 1 FROM run),
       (SELECT json_object_agg(name, value)::text FROM {STAMP_TABLE}),
       set_config('synchronous_commit', COALESCE(%s, current_setting('synchronous_commit')), true)
FROM task
"""
    return sql, task_fields, run_fields, message_fields


_TASK_FIELDS = ["id", "task_id", "last_seq"]


def _task_named(task_id: str) -> tuple[Task, bool]:
    """The task of that id, and whether this call created it (a concurrent request may have)."""
    for _ in range(2):
        found = fetch_instances(Task, _TASK_FIELDS, "task_id = %s", [task_id])
        if found:
            return found[0], False
        task = Task(task_id=task_id)
        if insert_instance(task, skip_conflicts=True):
            return task, True
    raise AssertionError(f"task {task_id!r} neither found nor created")


def _check_target(task: Task, message_id: str | None) -> None:
    if message_id and not Message.objects.filter(
        id=message_id, task=task, role=MessageRole.USER, superseded=False
    ).exists():
        raise MessageNotFound(f"Message {message_id} is not a user message of task {task.task_id}.")


def _record_user_turn(run: Run) -> None:
    """Writes the thread as this turn sees it: a new user message, an edit (the old message
    and everything after it superseded) or a retry (everything after it superseded)."""
    options, task = run.options, run.task
    target_id = options.get("edit_message_id") or options.get("retry_message_id")
    if target_id:
        target = Message.objects.get(id=target_id, task=task)
        if target.superseded:
            raise MessageNotFound(f"Message {target_id} was superseded meanwhile.")
        later = Message.objects.filter(task=task, position__gt=target.position)
        if options.get("edit_message_id"):
            later = Message.objects.filter(task=task, position__gte=target.position)
        later.update(superseded=True)
    if not options.get("retry_message_id"):
        insert_instance(Message(
            id=options["message_id"], task=task, run=run, role=MessageRole.USER, content=user_content(options),
            position=0 if options.get("opens_task") else selectors.next_position(task),
        ))


def user_content(options: dict) -> list[dict]:
    """The content blocks of the user message a turn's options describe."""
    return [{"type": "text", "text": options["message"]}, *options.get("media", [])]


def promote_next_queued(task: Task) -> None:
    """Starts the oldest queued run of the task, if any, now that none is active. Every turn
    asks this as it ends, so the question is one plain statement."""
    queued = fetch_instances(Run, None, "task_id = %s AND status = %s", [task.pk, RunStatus.QUEUED],
                             tail="ORDER BY created_at LIMIT 1")
    if not queued:
        return
    next_run = queued[0]
    next_run.task = task
    try:
        with transaction.atomic():
            claimed = Run.objects.filter(pk=next_run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(),
                worker=runner.worker_id(),
            )
            if not claimed:
                return
            next_run.refresh_from_db()
            _record_user_turn(next_run)
    except IntegrityError:
        return  # another turn became active first; it will promote this one when it ends
    except MessageNotFound as gone:
        with transaction.atomic():
            append_now(task=task, run_id=next_run.pk, events=[
                ("error", {"error": "MESSAGE_NOT_FOUND", "message": gone.message}),
                ("thread_lifecycle", {"phase": "errored", "turn_id": next_run.pk, "timestamp": iso_now()}),
            ], run_update={"status": RunStatus.ERRORED, "ended_at": timezone.now(), "error_code": "MESSAGE_NOT_FOUND",
                           "error_message": gone.message})
        return promote_next_queued(task)
    runner.launch(next_run)


def _cancel_waiting_run(run: Run) -> bool:
    """A run waiting on the user has no greenlet: close it here, with its pending requests."""
    from hitl.services import cancel_requests

    with transaction.atomic():
        if not Run.objects.filter(pk=run.pk, status=RunStatus.WAITING).update(status=RunStatus.CANCELLED, ended_at=timezone.now()):
            return False  # it was resumed meanwhile: cancel it like a running one
        cancel_requests(run)
        append_now(task=run.task, run_id=run.id, events=[
            ("thread_lifecycle", {"phase": "cancelled", "turn_id": run.id, "timestamp": iso_now()}),
        ])
    runner.start_next_after(run)
    return True


def cancel_active_run(*, task_id: str) -> Run:
    """Stops the task's active turn and waits (a few seconds at most) until it has closed.

    The run's own greenlet is killed where it waits (model stream, tool), so it records what it
    produced and closes the stream with `thread_lifecycle: cancelled`. A run in another worker
    is reached through the control channel. Raises TaskNotFound or NoActiveRun."""
    task = Task.objects.filter(task_id=task_id).first()
    if task is None:
        raise TaskNotFound(f"There is no task {task_id!r}.")
    run = selectors.active_run(task)
    if run is None:
        raise NoActiveRun(f"Nothing is running on task {task_id!r}.")
    if run.status == RunStatus.WAITING and _cancel_waiting_run(run):
        run.refresh_from_db()
        return run
    if not runner.cancel_local(run.id):
        with transaction.atomic():
            wakeups.notify_in_transaction(wakeups.CONTROL_CHANNEL, f"cancel:{run.id}")
    deadline = gevent.get_hub().loop.now() + CANCEL_WAIT_SECONDS
    while not selectors.run_is_finished(run.id) and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.02)
    run.refresh_from_db()
    return run
