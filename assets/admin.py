"""Operators manage the catalog here. Sealed columns are never shown: a client secret can be
replaced through the form, never read back."""

from django import forms
from django.contrib import admin
from django.db import models

from assets import crypto
from assets.models import Connection, McpServer


def _https_by_default(field: models.Field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class McpServerForm(forms.ModelForm):
    new_client_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Sets the OAuth client secret (stored encrypted; never shown). Leave empty to keep it.",
    )

    class Meta:
        model = McpServer
        exclude = ["oauth_client_secret_sealed"]
        formfield_callback = _https_by_default


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "display_name", "transport", "auth_method", "status", "source", "has_client_secret"]
    list_filter = ["transport", "auth_method", "status", "source"]
    search_fields = ["name", "display_name"]
    readonly_fields = ["source", "catalog_path", "created_at", "updated_at"]

    @admin.display(boolean=True, description="client secret")
    def has_client_secret(self, server: McpServer) -> bool:
        return bool(server.oauth_client_secret_sealed)

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("new_client_secret"):
            obj.oauth_client_secret_sealed = crypto.seal({"client_secret": form.cleaned_data["new_client_secret"]})
        super().save_model(request, obj, form, change)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["ref_id", "server", "status", "expires_at", "last_error", "updated_at"]
    list_filter = ["status", "server"]
    search_fields = ["ref_id", "server__name", "last_error"]
    exclude = ["secrets_sealed"]
    readonly_fields = [f.name for f in Connection._meta.fields if f.name != "secrets_sealed"]

    def has_add_permission(self, request) -> bool:
        return False
