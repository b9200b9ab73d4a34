"""Long-term memory: knowledge, episodes, the social graph and the soul.

Each searchable table carries `fts_rowid`, a random 62-bit integer that is the row's key in the
SQLite FTS5 index (SQLite may renumber implicit rowids on VACUUM, so we never rely on them). On
PostgreSQL the same tables get a generated `search_vector` tsvector column with a GIN index.
Both are created in migration 0002 and kept in sync by the database itself (triggers, or the
generated column), so no write path can forget them.

A row's embedding lives in a narrow side table (`KnowledgeVector`, `EpisodeVector`,
`PersonVector`), one row per searched row, deleted with it: 1.5 KB of vector in every searched row
made ranking a common word read twice the pages, and PostgreSQL does not TOAST a row under 2 KB.
"""

import secrets

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from engine.ids import new_id


def new_fts_rowid() -> int:
    return secrets.randbits(62) + 1


def new_knowledge_id() -> str:
    return new_id("kn")


def new_episode_id() -> str:
    return new_id("ep")


def new_person_id() -> str:
    return new_id("per")


def new_relationship_id() -> str:
    return new_id("rel")


def new_soul_id() -> str:
    return new_id("soul")


class KnowledgeKind(models.TextChoices):
    FACT = "fact"
    PREFERENCE = "preference"
    RULE = "rule"


class EpisodeOutcome(models.TextChoices):
    COMPLETED = "completed"
    ERRORED = "errored"
    CANCELLED = "cancelled"


class SoulOrigin(models.TextChoices):
    TEMPLATE = "template"
    REVERT = "revert"
    IMPORT = "import"
    LEARNED = "learned"  # the Learning Centre (adminops.learning)


class SearchableRow(models.Model):
    fts_rowid = models.BigIntegerField(unique=True, default=new_fts_rowid, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class KnowledgeItem(SearchableRow):
    """A fact or preference about the user or the world. A row is never rewritten with a new value:
    a changed value supersedes it (valid_until set, superseded_by pointing at the new row)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_knowledge_id, editable=False)
    subject = models.CharField(max_length=200, help_text="What the fact is about; one current value per subject.")
    subject_key = models.CharField(max_length=200, editable=False)
    content = models.TextField()
    content_key = models.CharField(max_length=500, editable=False, db_index=True)
    kind = models.CharField(max_length=16, choices=KnowledgeKind.choices, default=KnowledgeKind.FACT)
    source = models.CharField(max_length=200, blank=True, default="")
    confidence = models.FloatField(default=0.8)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    provenance = models.JSONField(default=dict, blank=True, help_text="episode_id, task_id, run_id, message_id")
    episode = models.ForeignKey(
        "Episode", null=True, blank=True, on_delete=models.SET_NULL, related_name="knowledge"
    )
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    mentions = models.PositiveIntegerField(default=1, help_text="How often this fact was written (merges).")

    class Meta:
        ordering = ["-valid_from"]
        indexes = [
            # remember_fact: the current value for a subject.
            models.Index(fields=["subject_key", "kind"], name="knowledge_subject_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=KnowledgeKind.values), name="knowledge_kind_valid"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="knowledge_confidence_in_range"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="knowledge_valid_until_after_valid_from",
            ),
            models.UniqueConstraint(
                fields=["subject_key", "kind"],
                condition=Q(valid_until__isnull=True),
                name="knowledge_one_current_value_per_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject}: {self.content[:60]}"

    @property
    def is_current(self) -> bool:
        return self.valid_until is None


class Episode(SearchableRow):
    """What happened in one turn of a task: a summary and its outcome."""

    id = models.CharField(primary_key=True, max_length=40, default=new_episode_id, editable=False)
    task_id = models.CharField(max_length=200, db_index=True)
    run_id = models.CharField(max_length=64)
    summary = models.TextField()
    outcome = models.CharField(max_length=16, choices=EpisodeOutcome.choices)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=EpisodeOutcome.values), name="episode_outcome_valid"),
            models.UniqueConstraint(fields=["task_id", "run_id"], name="episode_one_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.occurred_at:%Y-%m-%d}: {self.summary[:60]}"


class Person(SearchableRow):
    id = models.CharField(primary_key=True, max_length=40, default=new_person_id, editable=False)
    name = models.CharField(max_length=200)
    name_key = models.CharField(max_length=200, editable=False, db_index=True)
    notes = models.TextField(blank=True, default="")
    # Aliases and relationships as words, so that one full-text index finds "my dentist".
    search_text = models.TextField(blank=True, default="", editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name

    @property
    def alias_list(self) -> list[str]:
        return [alias.alias for alias in self.aliases.all()]


class StoredVector(models.Model):
    """One searched row's embedding: float32, L2-normalised, written only when ENGINE_EMBEDDINGS is
    on (memory.embeddings.embed_rows). Derived data, never exported. `row` is the primary key."""

    vector = models.BinaryField()
    # Serves the vector index's incremental refresh: WHERE embedded_at >= <last seen>.
    embedded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"vector of {self.row_id}"


class KnowledgeVector(StoredVector):
    row = models.OneToOneField(KnowledgeItem, primary_key=True, on_delete=models.CASCADE, related_name="stored_vector")


class EpisodeVector(StoredVector):
    row = models.OneToOneField(Episode, primary_key=True, on_delete=models.CASCADE, related_name="stored_vector")


class PersonVector(StoredVector):
    row = models.OneToOneField(Person, primary_key=True, on_delete=models.CASCADE, related_name="stored_vector")


def vector_model(model: type[SearchableRow]) -> type[StoredVector]:
    """The side table holding `model`'s vectors."""
    return model._meta.get_field("stored_vector").related_model


class PersonAlias(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=200)
    # resolve_person: WHERE alias_key IN (...).
    alias_key = models.CharField(max_length=200, db_index=True)

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "person aliases"
        constraints = [
            models.UniqueConstraint(fields=["person", "alias_key"], name="person_alias_unique"),
        ]

    def __str__(self) -> str:
        return self.alias


class Relationship(models.Model):
    """A typed edge: source → target. A null source is the user."""

    id = models.CharField(primary_key=True, max_length=40, default=new_relationship_id, editable=False)
    source = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="incoming")
    kind = models.CharField(max_length=100, help_text="friend, sister, manager, dentist...")
    note = models.TextField(blank=True, default="")
    learned_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-learned_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(source=F("target")), name="relationship_not_to_self"),
            models.UniqueConstraint(
                fields=["target", "kind"], condition=Q(source__isnull=True), name="relationship_user_unique"
            ),
            models.UniqueConstraint(
                fields=["source", "target", "kind"],
                condition=Q(source__isnull=False),
                name="relationship_people_unique",
            ),
        ]

    def __str__(self) -> str:
        source = self.source.name if self.source_id else "the user"
        return f"{source} → {self.kind} → {self.target.name}"


class SoulVersion(models.Model):
    """One version of the user's core profile. The highest version is the soul; nothing is
    edited in place, so every change can be seen and undone (a revert is a new version)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_soul_id, editable=False)
    version = models.PositiveIntegerField(unique=True)
    identity = models.TextField()
    values = models.JSONField(default=list)
    patterns = models.JSONField(default=list)
    origin = models.CharField(max_length=16, choices=SoulOrigin.choices)
    note = models.CharField(max_length=200, blank=True, default="")
    template_digest = models.CharField(max_length=64, blank=True, default="", help_text="SHA-256 of the template.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.CheckConstraint(condition=Q(origin__in=SoulOrigin.values), name="soul_origin_valid"),
        ]

    def __str__(self) -> str:
        return f"soul v{self.version}"
