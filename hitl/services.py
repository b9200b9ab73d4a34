"""Questions and permission prompts that pause a run, and the answers that resume it.

A run that must ask stores its step and one `HitlRequest` per call, emits `hitl_request`, and
its greenlet ends: nothing waits in memory. Whichever worker takes the answer records it, emits
`hitl_resolved`, and, once the step's last request is resolved, resumes the run in a new
greenlet of its own. Unanswered requests expire (CHANNEL_STATE_TTL_HITL, or the request's own
limit) into a denial recorded as `expired`. Nothing here ever runs a tool.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engine.errors import ValidationFailed
from execution.eventlog import append_now
from execution.models import Run, RunStatus, Task
from hitl.errors import HitlAlreadyResolved, HitlExpired, HitlNotFound
from hitl.models import HitlRequest, PermissionGrant, RequestKind, RequestStatus

logger = logging.getLogger(__name__)
APPROVALS = {"yes": True, "y": True, "approve": True, "allow": True, "no": False, "n": False, "deny": False}


@dataclass
class Ask:
    """What a run needs from the user for one tool call."""

    kind: str
    tool_call_id: str
    prompt: str
    tool_name: str = ""
    tool_input: dict | None = None
    options: list[str] | None = None
    expires_in_seconds: int | None = None


def open_requests(*, run: Run, asks: list[Ask]) -> list[HitlRequest]:
    """Creates the requests of one step. Call inside the transaction that pauses the run."""
    now = timezone.now()
    return [
        HitlRequest.objects.create(
            task=run.task, run=run, kind=ask.kind, prompt=ask.prompt, options=ask.options or [],
            tool_name=ask.tool_name, tool_input=ask.tool_input or {}, tool_call_id=ask.tool_call_id,
            expires_at=now + timedelta(seconds=ask.expires_in_seconds or settings.CHANNEL_STATE_TTL_HITL),
        )
        for ask in asks
    ]


def request_event(request: HitlRequest) -> dict:
    """The data of a `hitl_request` event: everything a UI needs to show it."""
    data = {
        "request_id": request.id, "kind": request.kind, "question": request.prompt,
        "expires_at": request.expires_at.isoformat().replace("+00:00", "Z"), "tool_call_id": request.tool_call_id,
    }
    if request.kind == RequestKind.PERMISSION:
        data.update(tool=request.tool_name, input=request.tool_input)
    if request.options:
        data["options"] = request.options
    return data


def respond(
    *, task_id: str, answer: str, resolved_by: str, request_id: str | None = None, feedback: str = "",
    content_blocks: list | None = None, always_allow: bool = False, always_allow_pattern: str | None = None,
) -> HitlRequest:
    """Answers a question or approves/denies a permission, then resumes the run if this was the
    last request of its step. Without `request_id`, the task's oldest pending request.

    Raises HitlNotFound (nothing pending there), HitlAlreadyResolved (a different earlier
    answer; the same answer again is accepted and changes nothing), HitlExpired, and
    ValidationFailed for an answer that does not fit the request. Locks the request row."""
    with transaction.atomic():
        request = _lock_request(task_id, request_id)
        if not request.is_pending:
            if request.status == RequestStatus.EXPIRED:
                raise HitlExpired(resolution=request.resolution())
            if _same_answer(request, answer):
                return request
            raise HitlAlreadyResolved(resolution=request.resolution())
        if request.expires_at > timezone.now():
            status = _status_for(request, answer)
            _resolve(request, status=status, answer=answer.strip(), feedback=feedback,
                     content_blocks=content_blocks or [], resolved_by=resolved_by)
            if always_allow and status == RequestStatus.APPROVED:
                PermissionGrant.objects.create(task=request.task, tool_name=request.tool_name,
                                               pattern=always_allow_pattern, request=request)
            return request
        _resolve(request, status=RequestStatus.EXPIRED, resolved_by="system:expiry")
    raise HitlExpired(resolution=request.resolution())


def _lock_request(task_id: str, request_id: str | None) -> HitlRequest:
    requests = HitlRequest.objects.select_for_update().select_related("run", "task").filter(task__task_id=task_id)
    request = requests.filter(id=request_id).first() if request_id else requests.filter(status=RequestStatus.PENDING).first()
    if request is None:
        raise HitlNotFound(f"No request {request_id} on task {task_id!r}." if request_id else
                           f"Nothing is waiting for an answer on task {task_id!r}.")
    return request


def _status_for(request: HitlRequest, answer: str) -> str:
    if request.kind == RequestKind.QUESTION:
        if not answer.strip():
            raise ValidationFailed(details={"answer": ["Answer the question with some text."]})
        return RequestStatus.ANSWERED
    approved = APPROVALS.get(answer.strip().lower())
    if approved is None:
        raise ValidationFailed(details={"answer": ['A permission prompt takes "yes" or "no".']})
    return RequestStatus.APPROVED if approved else RequestStatus.DENIED


def _same_answer(request: HitlRequest, answer: str) -> bool:
    try:
        return _status_for(request, answer) == request.status and (
            request.kind != RequestKind.QUESTION or request.answer == answer.strip()
        )
    except ValidationFailed:
        return False


def _resolve(request: HitlRequest, *, status: str, resolved_by: str, answer: str = "", feedback: str = "",
             content_blocks: list | None = None) -> None:
    """Records the resolution, emits `hitl_resolved`, and resumes the run (after commit) when
    none of its requests is pending any more. Inside the caller's transaction."""
    request.status, request.answer, request.feedback = status, answer, feedback
    request.content_blocks, request.resolved_at, request.resolved_by = content_blocks or [], timezone.now(), resolved_by
    request.save(update_fields=["status", "answer", "feedback", "content_blocks", "resolved_at", "resolved_by"])
    append_now(task=request.task, run_id=request.run_id, events=[("hitl_resolved", {
        "request_id": request.id, "kind": request.kind, "status": status, "answer": answer,
    })])
    _resume_when_ready(request.run)


def _resume_when_ready(run: Run) -> None:
    from execution import runner

    if HitlRequest.objects.filter(run=run, status=RequestStatus.PENDING).exists():
        return
    claimed = Run.objects.filter(pk=run.pk, status=RunStatus.WAITING).update(
        status=RunStatus.RUNNING, worker=runner.worker_id(), heartbeat_at=timezone.now()
    )
    if claimed:
        run.refresh_from_db()
        transaction.on_commit(lambda: runner.launch(run, resume=True))


def expire_due_requests() -> int:
    """Expires the pending requests past their time (each a denial recorded as `expired`, never
    as a human decision) and resumes the runs that no longer wait. Returns how many expired."""
    due = list(HitlRequest.objects.filter(status=RequestStatus.PENDING, expires_at__lte=timezone.now()).values_list("id", flat=True))
    for request_id in due:
        with transaction.atomic():
            request = HitlRequest.objects.select_for_update().select_related("run", "task").get(id=request_id)
            if request.is_pending:
                _resolve(request, status=RequestStatus.EXPIRED, resolved_by="system:expiry")
    return len(due)


def cancel_requests(run: Run) -> None:
    """Cancels the run's pending requests (the run is being cancelled). Inside its transaction."""
    HitlRequest.objects.filter(run=run, status=RequestStatus.PENDING).update(
        status=RequestStatus.CANCELLED, resolved_at=timezone.now(), resolved_by="system:cancel"
    )


def grants_for(task: Task) -> list[PermissionGrant]:
    return list(PermissionGrant.objects.filter(task=task))


def resolutions(run: Run) -> dict[str, HitlRequest]:
    """The latest request of each tool call of the run, by tool call id."""
    return {request.tool_call_id: request for request in HitlRequest.objects.filter(run=run).order_by("created_at")}
