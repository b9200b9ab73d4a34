from django.db import models
from django.db.models import Q


class KeyScope(models.TextChoices):
    USER = "user", "user"
    ADMIN = "admin", "admin (also user)"


class ApiKey(models.Model):
    """An API key. Only its SHA-256 is stored; the raw key is shown once, when it is made."""

    prefix = models.CharField(max_length=16, unique=True, help_text="Public, non-secret part, for display and lookup.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=KeyScope.choices, default=KeyScope.USER)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=KeyScope.values), name="apikey_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_admin(self) -> bool:
        return self.scope == KeyScope.ADMIN


class CacheStamp(models.Model):
    """The stamp of a group of tables that workers keep copies of (engine.worker_cache).
    Database triggers give it a new random value on every write to those tables."""

    name = models.CharField(primary_key=True, max_length=40)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"
