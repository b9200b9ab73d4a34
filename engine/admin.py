from django.contrib import admin, messages
from django.utils import timezone

from engine.keys import assign_new_secret
from engine.models import ApiKey

admin.site.site_header = "Engine operations"
admin.site.site_title = "Engine"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "scope", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["scope", "revoked_at"]
    search_fields = ["prefix", "name"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "replaced_by"]
    fields = ["name", "scope", "expires_at", "revoked_at", "prefix", "created_at", "last_used_at", "replaced_by"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        raw = assign_new_secret(obj)
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            f"Key created. Copy it now, it will not be shown again: {raw}",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")
