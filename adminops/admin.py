import json

from django.contrib import admin
from django.utils.html import format_html

from adminops.models import Feedback, LearningBatch


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "rating", "task_id", "short_text", "key_prefix", "created_at"]
    list_filter = ["kind", "rating", "created_at"]
    search_fields = ["id", "task_id", "message_id", "text"]
    readonly_fields = [f.name for f in Feedback._meta.fields]

    @admin.display(description="text")
    def short_text(self, feedback: Feedback) -> str:
        return feedback.text[:80]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(LearningBatch)
class LearningBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "dry_run", "since", "until", "created_at", "finished_at", "short_error"]
    list_filter = ["status", "dry_run", "created_at"]
    search_fields = ["id", "error"]
    fields = ["id", "status", "dry_run", "since", "until", "inputs", "changeset_pretty", "applied", "error",
              "created_at", "started_at", "finished_at"]
    readonly_fields = fields

    @admin.display(description="changeset")
    def changeset_pretty(self, batch: LearningBatch) -> str:
        return format_html("<pre>{}</pre>", json.dumps(batch.changeset, indent=2)) if batch.changeset is not None else "-"

    @admin.display(description="error")
    def short_error(self, batch: LearningBatch) -> str:
        return batch.error[:80]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
