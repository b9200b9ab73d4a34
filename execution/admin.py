from django.contrib import admin

from execution.models import Event, Message, Run, Task


class ReadOnlyAdmin(admin.ModelAdmin):
    """The log and the threads are history: operators browse them, never edit them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ["task_id", "created_at", "last_seq"]
    search_fields = ["task_id"]
    date_hierarchy = "created_at"


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "status", "created_at", "ended_at", "worker", "error_code"]
    list_filter = ["status", "error_code"]
    search_fields = ["id", "task__task_id"]
    list_select_related = ["task"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "position", "role", "superseded", "created_at"]
    list_filter = ["role", "superseded"]
    search_fields = ["id", "task__task_id"]
    list_select_related = ["task"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "seq", "type", "run", "ts"]
    list_filter = ["type"]
    search_fields = ["task__task_id", "run__id"]
    list_select_related = ["task", "run"]
