"""Writing long-term memory: facts (deduplicated on write), episodes, people and relationships.

The agent loop calls these; so do the import and the admin. Every function is keyword-only and
runs in its own transaction (or joins the caller's).
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from engine.db import insert_instance
from engine.errors import NotFound, ValidationFailed
from memory.embeddings import store_vectors, vectors_of
from memory.lexical import comparison_key
from memory.models import (
    Episode,
    EpisodeOutcome,
    KnowledgeItem,
    KnowledgeKind,
    Person,
    PersonAlias,
    Relationship,
)

ADDED, MERGED, SUPERSEDED = "added", "merged", "superseded"


def knowledge_text(item: KnowledgeItem) -> str:
    return f"{item.subject}: {item.content}"


def episode_text(episode: Episode) -> str:
    return episode.summary


def person_text(person: Person) -> str:
    return f"{person.name}. {person.notes} {person.search_text}".strip()


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ValidationFailed(details={field: [message]})


def remember_fact(
    *,
    subject: str,
    content: str,
    kind: str = KnowledgeKind.FACT,
    source: str = "",
    confidence: float = 0.8,
    provenance: dict | None = None,
) -> tuple[KnowledgeItem, str]:
    """Stores a fact, deduplicating on write. Returns the current item and what happened:

    - "merged": a current fact with the same comparison key (case, punctuation, spacing and
      articles ignored) exists, under any subject; it keeps its id, its confidence becomes the
      higher of the two and `mentions` goes up.
    - "superseded": the subject (same kind) had a different current value; the old row gets
      `valid_until` = now and `superseded_by` = the new row, and is kept as history.
    - "added": neither.

    A subject holds one current value per kind (a partial unique index enforces it); name the
    attribute ("coffee order", "home city"), not the person. Raises ValidationFailed on bad input.
    Takes row locks on PostgreSQL (SELECT ... FOR UPDATE); SQLite serialises writers itself.
    """
    subject, content = subject.strip(), content.strip()
    _require(bool(subject), "subject", "A fact needs a subject.")
    _require(bool(content), "content", "A fact needs content.")
    _require(kind in KnowledgeKind.values, "kind", f"kind must be one of {', '.join(KnowledgeKind.values)}.")
    _require(0.0 <= confidence <= 1.0, "confidence", "confidence must be between 0 and 1.")
    provenance = dict(provenance or {})
    # Embedded before the transaction (unused when the fact merges), so no lock waits on the model.
    vectors = vectors_of([KnowledgeItem(subject=subject, content=content)], knowledge_text)
    try:
        with transaction.atomic():
            return _remember_fact_locked(subject, content, kind, source, confidence, provenance, vectors)
    except IntegrityError:
        # A concurrent writer added the same subject's current value first; decide again against it.
        with transaction.atomic():
            return _remember_fact_locked(subject, content, kind, source, confidence, provenance, vectors)


def _remember_fact_locked(subject, content, kind, source, confidence, provenance, vectors) -> tuple[KnowledgeItem, str]:
    now = timezone.now()
    subject_key, content_key = comparison_key(subject), comparison_key(content, drop_articles=True)
    current = KnowledgeItem.objects.select_for_update().filter(valid_until__isnull=True)
    same = current.filter(content_key=content_key, kind=kind).order_by("valid_from").first()
    if same is not None:
        same.confidence = max(same.confidence, confidence)
        same.mentions += 1
        same.updated_at = now
        same.save(update_fields=["confidence", "mentions", "updated_at"])
        return same, MERGED

    previous = current.filter(subject_key=subject_key, kind=kind).first()
    episode_id = provenance.get("episode_id")
    item = KnowledgeItem(
        subject=subject, subject_key=subject_key, content=content, content_key=content_key, kind=kind,
        source=source, confidence=confidence, valid_from=now, provenance=provenance, created_at=now, updated_at=now,
        episode_id=episode_id if episode_id and Episode.objects.filter(id=episode_id).exists() else None,
    )
    if previous is not None:
        previous.valid_until, previous.updated_at = now, now
        previous.save(update_fields=["valid_until", "updated_at"])
    item.save(force_insert=True)
    store_vectors([item], vectors)
    if previous is None:
        return item, ADDED
    previous.superseded_by = item
    previous.save(update_fields=["superseded_by"])
    return item, SUPERSEDED


def forget_fact(*, fact_id: str) -> KnowledgeItem:
    """Marks a fact as no longer true (valid_until = now); the row stays as history. Forgetting a
    fact that is already no longer valid changes nothing. Raises NotFound for an unknown id."""
    with transaction.atomic():
        item = KnowledgeItem.objects.select_for_update().filter(id=fact_id).first()
        if item is None:
            raise NotFound(f"There is no fact {fact_id}.")
        if item.valid_until is None:
            now = timezone.now()
            item.valid_until, item.updated_at = max(now, item.valid_from), now
            item.save(update_fields=["valid_until", "updated_at"])
        return item


def record_episode(
    *, task_id: str, run_id: str, summary: str, outcome: str, occurred_at: datetime | None = None
) -> Episode:
    """Records what happened in one run of a task. One episode per (task_id, run_id): recording
    the same run again replaces its summary and outcome, so a retried call never duplicates.
    `outcome` is completed | errored | cancelled (the turn's closing phase)."""
    summary = summary.strip()
    _require(bool(task_id), "task_id", "An episode needs a task_id.")
    _require(bool(run_id), "run_id", "An episode needs a run_id.")
    _require(bool(summary), "summary", "An episode needs a summary.")
    _require(outcome in EpisodeOutcome.values, "outcome", f"outcome must be one of {', '.join(EpisodeOutcome.values)}.")
    now = timezone.now()
    vectors = vectors_of([Episode(summary=summary)], episode_text)  # before the transaction: no lock waits on the model
    with transaction.atomic():
        # Every turn ends here: a new run's episode is one plain INSERT (engine.db); the unique
        # (task_id, run_id) turns a repeated call into an update of the row already there.
        episode = Episode(task_id=task_id, run_id=run_id, summary=summary, outcome=outcome,
                          occurred_at=occurred_at or now, created_at=now, updated_at=now)
        if not insert_instance(episode, skip_conflicts=True):
            episode = Episode.objects.select_for_update().get(task_id=task_id, run_id=run_id)
            episode.summary, episode.outcome = summary, outcome
            episode.occurred_at = occurred_at or episode.occurred_at
            episode.updated_at = now
            episode.save()
        store_vectors([episode], vectors)
        return episode


def resolve_person(*, name: str, aliases: list[str] = ()) -> tuple[Person, bool]:
    """Finds the person called `name` or any of `aliases` (by name first, then by alias; case and
    punctuation ignored) or creates them. New aliases are added to the person found. Returns
    (person, created)."""
    name = name.strip()
    _require(bool(name), "name", "A person needs a name.")
    spellings = [name, *(alias.strip() for alias in aliases if alias.strip())]
    keys = [comparison_key(spelling) for spelling in spellings]
    with transaction.atomic():
        person = Person.objects.select_for_update().filter(name_key__in=keys).order_by("created_at").first()
        if person is None:
            match = PersonAlias.objects.filter(alias_key__in=keys).order_by("person__created_at").first()
            person = Person.objects.select_for_update().get(id=match.person_id) if match else None
        created = person is None
        if created:
            now = timezone.now()
            person = Person.objects.create(name=name, name_key=keys[0], created_at=now, updated_at=now)
        known = {person.name_key, *person.aliases.values_list("alias_key", flat=True)}
        new_aliases = []
        for spelling, key in zip(spellings, keys):
            if key and key not in known:
                known.add(key)
                new_aliases.append(PersonAlias(person=person, alias=spelling, alias_key=key))
        PersonAlias.objects.bulk_create(new_aliases)
        if created or new_aliases:
            refresh_person_text(person)
        return person, created


def relate(*, source: Person | None, target: Person, kind: str, note: str = "") -> Relationship:
    """Records that `source` (None: the user) is `kind` to `target`; for example relate(source=None,
    target=ana, kind="sister"). Relating the same pair by the same kind again updates the note
    (when one is given) and `learned_at`. Returns the relationship."""
    kind = comparison_key(kind)
    _require(bool(kind), "kind", "A relationship needs a kind.")
    _require(source is None or source.id != target.id, "target", "A person cannot be related to themselves.")
    now = timezone.now()
    with transaction.atomic():
        relationship, created = Relationship.objects.select_for_update().get_or_create(
            source=source, target=target, kind=kind,
            defaults={"note": note.strip(), "learned_at": now, "created_at": now, "updated_at": now},
        )
        if not created:
            relationship.note = note.strip() or relationship.note
            relationship.learned_at = relationship.updated_at = now
            relationship.save(update_fields=["note", "learned_at", "updated_at"])
        refresh_person_text(target)
        if source is not None:
            refresh_person_text(source)
        return relationship


def refresh_person_text(person: Person) -> None:
    """Rebuilds the words a person is found by: aliases, relationship kinds and notes."""
    parts = [alias.alias for alias in person.aliases.all()]
    for rel in Relationship.objects.filter(target=person).select_related("source"):
        parts.append(f"{rel.kind} of {rel.source.name if rel.source_id else 'the user'}. {rel.note}")
    for rel in Relationship.objects.filter(source=person).select_related("target"):
        parts.append(f"{rel.kind}: {rel.target.name}. {rel.note}")
    person.search_text = " ".join(part.strip() for part in parts if part.strip())
    person.updated_at = timezone.now()
    vectors = vectors_of([person], person_text)
    with transaction.atomic():
        person.save(update_fields=["search_text", "updated_at"])
        store_vectors([person], vectors)
