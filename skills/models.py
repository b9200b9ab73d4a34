from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

SKILL_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$"
skill_name_validator = RegexValidator(
    SKILL_NAME_PATTERN, "2 to 64 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
)


class Skill(models.Model):
    """A custom skill: a prompt template and optional scripts, written through the API.
    Platform skills live in catalog files, never here (see `skills.catalog`)."""

    name = models.CharField(max_length=64, unique=True, validators=[skill_name_validator])
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=100, blank=True, default="")
    prompt_template = models.TextField(blank=True, default="")
    scripts = models.JSONField(default=dict, blank=True, help_text="filename → contents")
    capabilities = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(default=0.8)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="skill_confidence_in_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SkillVersion(models.Model):
    """A custom skill as it was before an update: every update keeps the previous version."""

    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=100, blank=True, default="")
    prompt_template = models.TextField(blank=True, default="")
    scripts = models.JSONField(default=dict, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(default=0.8)
    created_at = models.DateTimeField(default=timezone.now, help_text="When this version was written.")

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["skill", "version"], name="skill_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.skill.name} v{self.version}"


class CatalogGeneration(models.Model):
    """One row: bumped by every catalog reload, so a worker that missed the control message (any
    worker on SQLite, which has no NOTIFY) sees that its in-memory catalog is stale."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    generation = models.PositiveIntegerField(default=0)
    reloaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="catalog_generation_single_row")]

    def __str__(self) -> str:
        return f"catalog generation {self.generation}"
