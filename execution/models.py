from django.db import models
from django.db.models import Q

from engine.ids import new_id


class Task(models.Model):
    """A conversation thread, named by the client's `task_id` (any string). Lives forever."""

    task_id = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last event sequence number handed out; kept here because purging old events must
    # never let a sequence number be used twice.
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.task_id


class MessageRole(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"


def new_message_id() -> str:
    return new_id("msg")


class Message(models.Model):
    """One message of a thread. Content is a list of blocks (text, media, tool_use, tool_result).
    Edits and retries never delete: they mark later messages `superseded`."""

    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.JSONField(default=list)
    position = models.PositiveIntegerField()
    superseded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="message_position_unique_per_task"),
            models.CheckConstraint(condition=Q(role__in=MessageRole.values), name="message_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.id}"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    ERRORED = "errored"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = [RunStatus.RUNNING, RunStatus.WAITING]
FINISHED_STATUSES = [RunStatus.COMPLETED, RunStatus.ERRORED, RunStatus.CANCELLED]


def new_run_id() -> str:
    return new_id("run")


class Run(models.Model):
    """One agent turn on a task. It executes in a greenlet of the worker named in `worker`,
    independent of any HTTP request, and reports liveness through `heartbeat_at`."""

    id = models.CharField(primary_key=True, max_length=40, default=new_run_id, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    options = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid"),
            # The busy-task rule, enforced by the database: one active run per task.
            models.UniqueConstraint(
                fields=["task"], condition=Q(status__in=ACTIVE_STATUSES), name="one_active_run_per_task"
            ),
        ]
        indexes = [
            # The watchdog's query: active runs by heartbeat.
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class Event(models.Model):
    """The durable event log. Runs append here first; every stream is a reader of it.
    `id` orders all events (appends are serialised, so ids commit in order); `seq` numbers a
    task's events; `ts` is epoch milliseconds (the replay `after=` parameter)."""

    id = models.BigAutoField(primary_key=True)
    # No index of their own: every token of every turn is a row here, and each index costs its
    # insert (the run's, keyed by a random string, doubled it). `task` leads the indexes below;
    # the purge finds old events by `ts`.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events", db_index=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveBigIntegerField()
    ts = models.BigIntegerField()
    type = models.CharField(max_length=32)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="event_seq_unique_per_task")]
        indexes = [
            # Readers of one task: WHERE task_id = ? AND id > ? ORDER BY id.
            models.Index(fields=["task", "id"], name="event_task_cursor"),
            # Replay of every task: WHERE ts > ? ORDER BY id; and the purge.
            models.Index(fields=["ts"], name="event_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} of {self.task_id}"


class WorkingMemory(models.Model):
    """A task's scratchpad: the agent writes it with the `working_memory` tool and sees it on
    every turn of that task."""

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="working_memory")
    content = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"working memory of {self.task_id} (v{self.version})"


class Compaction(models.Model):
    """A summary that stands in, in the model's context, for a task's messages up to
    `up_to_position`. The messages themselves stay in the database."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="compactions")
    run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    summary = models.TextField()
    up_to_position = models.PositiveIntegerField()
    collapsed_messages = models.PositiveIntegerField()
    tokens_before = models.PositiveIntegerField()
    tokens_after = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-up_to_position"]
        get_latest_by = "up_to_position"

    def __str__(self) -> str:
        return f"compaction of {self.task_id} up to #{self.up_to_position}"
