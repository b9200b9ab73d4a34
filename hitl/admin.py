from django import forms
from django.contrib import admin, messages

from engine.errors import EngineError
from hitl import services
from hitl.models import HitlRequest, PermissionGrant, RequestStatus


class AnswerForm(forms.ModelForm):
    reply = forms.CharField(required=False, help_text='For a pending request: the answer ("yes"/"no" for a permission).')

    class Meta:
        model = HitlRequest
        fields = []


@admin.register(HitlRequest)
class HitlRequestAdmin(admin.ModelAdmin):
    """History is read-only; a pending request can be answered here (as an operator)."""

    form = AnswerForm
    list_display = ["id", "task", "kind", "short_prompt", "tool_name", "status", "created_at", "resolved_by"]
    list_filter = ["status", "kind"]
    search_fields = ["id", "task__task_id", "prompt", "tool_name"]
    list_select_related = ["task"]
    readonly_fields = ["id", "task", "run", "kind", "prompt", "options", "tool_name", "tool_input", "tool_call_id",
                       "status", "answer", "feedback", "created_at", "expires_at", "resolved_at", "resolved_by"]
    actions = ["approve", "deny"]

    @admin.display(description="question")
    def short_prompt(self, request: HitlRequest) -> str:
        return request.prompt[:80]

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        reply = form.cleaned_data.get("reply")
        if reply and obj.is_pending:
            self._answer(request, obj, reply)

    @admin.action(description="Approve the selected permission prompts")
    def approve(self, request, queryset):
        for hitl_request in queryset.filter(status=RequestStatus.PENDING, kind="permission"):
            self._answer(request, hitl_request, "yes")

    @admin.action(description="Deny the selected permission prompts")
    def deny(self, request, queryset):
        for hitl_request in queryset.filter(status=RequestStatus.PENDING, kind="permission"):
            self._answer(request, hitl_request, "no")

    def _answer(self, request, hitl_request: HitlRequest, reply: str) -> None:
        try:
            services.respond(task_id=hitl_request.task.task_id, request_id=hitl_request.id, answer=reply,
                             resolved_by=f"admin:{request.user.get_username()}")
        except EngineError as refused:
            self.message_user(request, f"{hitl_request.id}: {refused.message}", level=messages.ERROR)


@admin.register(PermissionGrant)
class PermissionGrantAdmin(admin.ModelAdmin):
    list_display = ["task", "tool_name", "pattern", "created_at"]
    search_fields = ["task__task_id", "tool_name"]
