from django.db import models
from django.db.models import Q

from engine.ids import new_id


class RequestKind(models.TextChoices):
    QUESTION = "question"
    PERMISSION = "permission"


class RequestStatus(models.TextChoices):
    PENDING = "pending"
    ANSWERED = "answered"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


def new_request_id() -> str:
    return new_id("hitl")


class HitlRequest(models.Model):
    """A question to the user, or a tool call waiting for their permission. The run that asked
    holds no greenlet while it waits: this row (with the run's stored step) is the whole state."""

    id = models.CharField(primary_key=True, max_length=40, default=new_request_id, editable=False)
    task = models.ForeignKey("execution.Task", on_delete=models.CASCADE, related_name="hitl_requests")
    run = models.ForeignKey("execution.Run", on_delete=models.CASCADE, related_name="hitl_requests")
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    prompt = models.TextField()
    options = models.JSONField(default=list, blank=True)
    tool_name = models.CharField(max_length=200, blank=True, default="")
    tool_input = models.JSONField(default=dict, blank=True)
    tool_call_id = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    answer = models.TextField(blank=True, default="")
    feedback = models.TextField(blank=True, default="")
    content_blocks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=100, blank=True, default="", help_text="key prefix, admin user, or system")

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RequestKind.values), name="hitl_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=RequestStatus.values), name="hitl_status_valid"),
        ]
        indexes = [
            # /hitl/pending and the expiry sweep: pending requests by age.
            models.Index(fields=["status", "expires_at"], name="hitl_status_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == RequestStatus.PENDING

    def resolution(self) -> dict:
        return {
            "request_id": self.id, "status": self.status, "answer": self.answer,
            "resolved_at": self.resolved_at.isoformat().replace("+00:00", "Z") if self.resolved_at else None,
            "resolved_by": self.resolved_by,
        }


class PermissionGrant(models.Model):
    """"Always allow" for one task: later calls of the tool (matching the pattern, if any) skip
    the question. Deny rules still win."""

    task = models.ForeignKey("execution.Task", on_delete=models.CASCADE, related_name="permission_grants")
    tool_name = models.CharField(max_length=200)
    pattern = models.CharField(max_length=500, null=True, blank=True)
    request = models.ForeignKey(HitlRequest, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"allow {self.tool_name} {self.pattern or ''} on {self.task_id}"
