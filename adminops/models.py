from django.db import models
from django.db.models import Q

from engine.ids import new_id


class FeedbackKind(models.TextChoices):
    CORRECTION = "correction"
    RATING = "rating"
    ERROR_REPORT = "error_report"


def new_feedback_id() -> str:
    return new_id("fb")


class Feedback(models.Model):
    """What the user told us about a reply: a correction, a rating, or an error report.
    The Learning Centre reads these."""

    id = models.CharField(primary_key=True, max_length=40, default=new_feedback_id, editable=False)
    kind = models.CharField(max_length=16, choices=FeedbackKind.choices)
    task_id = models.CharField(max_length=200, blank=True, default="")
    message_id = models.CharField(max_length=64, blank=True, default="")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    text = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    key_prefix = models.CharField(max_length=16, blank=True, default="", help_text="The key that sent it.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "feedback"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=FeedbackKind.values), name="feedback_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind=FeedbackKind.RATING) | Q(rating__gte=1, rating__lte=5),
                name="feedback_rating_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class BatchStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE_STATUSES = (BatchStatus.QUEUED, BatchStatus.RUNNING)


def new_batch_id() -> str:
    return new_id("lc")


class LearningBatch(models.Model):
    """One Learning Centre run: what it read, the changeset the model proposed, what was applied."""

    id = models.CharField(primary_key=True, max_length=40, default=new_batch_id, editable=False)
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.QUEUED)
    # True while queued or running, NULL afterwards: the unique constraint admits one active batch
    # across all workers (NULLs never collide, on SQLite as on PostgreSQL).
    active = models.BooleanField(null=True, default=True, editable=False)
    dry_run = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True, help_text="Read activity from here (empty: since the last successful batch).")
    until = models.DateTimeField(null=True, blank=True, help_text="Read activity up to here (the start of the run).")
    inputs = models.JSONField(default=dict, blank=True, help_text="How many episodes, feedback and messages were read.")
    changeset = models.JSONField(null=True, blank=True)
    applied = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "Learning Centre batch"
        verbose_name_plural = "Learning Centre batches"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=BatchStatus.values), name="lc_batch_status_valid"),
            models.CheckConstraint(
                condition=(Q(active=True) & Q(status__in=ACTIVE_STATUSES))
                | (Q(active__isnull=True) & ~Q(status__in=ACTIVE_STATUSES)),
                name="lc_batch_active_iff_queued_or_running",
            ),
            models.UniqueConstraint(fields=["active"], name="lc_one_active_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"
