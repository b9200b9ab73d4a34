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
