from django.contrib import admin

from adminops.models import Feedback


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
