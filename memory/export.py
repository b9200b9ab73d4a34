"""Export all memory as one bundle, and import a bundle (validated in full, then one transaction).

Import is idempotent: records are matched by their stable id first, then by their natural key
(an episode's task and run, a person's name or alias, a relationship's ends and kind, a fact's
comparison key). A match that the bundle would change is "merged" when the bundle's copy is
newer (`updated_at`); otherwise, and when nothing would change, it is "skipped".
"""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from engine.errors import ValidationFailed
from memory.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    STORES,
    BundleSerializer,
    EpisodeRecord,
    KnowledgeRecord,
    PersonRecord,
    RelationshipRecord,
    SoulRecord,
    check_bundle_version,
)
from memory.embeddings import embed_rows, embeddings_enabled, forget_vectors
from memory.lexical import comparison_key
from memory.models import Episode, KnowledgeItem, Person, PersonAlias, Relationship, SearchableRow, SoulVersion
from memory.services import episode_text, knowledge_text, refresh_person_text

ADDED, MERGED, SKIPPED = "added", "merged", "skipped"


def export_memory() -> dict:
    """Every store, oldest first within a store, as a self-describing bundle."""
    people = Person.objects.prefetch_related("aliases").order_by("created_at", "id")
    stores = {
        "knowledge": KnowledgeRecord(KnowledgeItem.objects.order_by("created_at", "id"), many=True).data,
        "episodes": EpisodeRecord(Episode.objects.order_by("created_at", "id"), many=True).data,
        "people": PersonRecord(people, many=True).data,
        "relationships": RelationshipRecord(Relationship.objects.order_by("created_at", "id"), many=True).data,
        "soul": SoulRecord(SoulVersion.objects.order_by("version"), many=True).data,
    }
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "exported_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "stores": stores,
    }


def import_memory(data) -> dict:
    """Validates the whole bundle, then writes it in one transaction. Returns, per store, how many
    records were added, merged and skipped. Raises UnsupportedBundleVersion for a newer format and
    ValidationFailed for anything malformed; in both cases nothing is written."""
    check_bundle_version(data)
    bundle = BundleSerializer(data=data)
    bundle.is_valid(raise_exception=True)
    stores = bundle.validated_data["stores"]
    _check_references(stores)
    report = {store: {ADDED: 0, MERGED: 0, SKIPPED: 0} for store in STORES}
    with transaction.atomic():
        episode_ids = _import_episodes(stores["episodes"], report["episodes"])
        person_ids = _import_people(stores["people"], report["people"])
        _import_relationships(stores["relationships"], person_ids, report["relationships"])
        _import_knowledge(stores["knowledge"], episode_ids, report["knowledge"])
        _import_soul(stores["soul"], report["soul"])
        _embed_missing()
    return report


def _check_references(stores: dict) -> None:
    errors = {}
    people = {record["id"] for record in stores["people"]}
    wanted = {ref for rel in stores["relationships"] for ref in (rel["source_id"], rel["target_id"]) if ref}
    if missing := wanted - people - set(Person.objects.filter(id__in=wanted - people).values_list("id", flat=True)):
        errors["relationships"] = [f"Unknown people: {', '.join(sorted(missing)[:5])}."]
    facts = {record["id"] for record in stores["knowledge"]}
    wanted = {record["superseded_by_id"] for record in stores["knowledge"] if record["superseded_by_id"]}
    if missing := wanted - facts - set(KnowledgeItem.objects.filter(id__in=wanted - facts).values_list("id", flat=True)):
        errors["knowledge"] = [f"superseded_by names unknown facts: {', '.join(sorted(missing)[:5])}."]
    if errors:
        raise ValidationFailed(details={"stores": errors})


def _differs(row, record: dict, fields) -> bool:
    return any(getattr(row, field) != record[field] for field in fields)


def _overwrite(row, record: dict, fields, counts: dict) -> None:
    if _differs(row, record, fields) and record["updated_at"] > row.updated_at:
        for field in fields:
            setattr(row, field, record[field])
        row.save()
        if isinstance(row, SearchableRow):
            forget_vectors([row])  # _embed_missing embeds it again when embeddings are on
        counts[MERGED] += 1
    else:
        counts[SKIPPED] += 1


EPISODE_FIELDS = ("summary", "outcome", "occurred_at", "updated_at")


def _import_episodes(records: list[dict], counts: dict) -> dict[str, str]:
    ids = {}
    for record in records:
        row = Episode.objects.filter(id=record["id"]).first() or Episode.objects.filter(
            task_id=record["task_id"], run_id=record["run_id"]
        ).first()
        if row is None:
            row = Episode.objects.create(**record)
            counts[ADDED] += 1
        else:
            _overwrite(row, record, EPISODE_FIELDS, counts)
        ids[record["id"]] = row.id
    return ids


def _import_people(records: list[dict], counts: dict) -> dict[str, str]:
    ids = {}
    for record in records:
        aliases = record.pop("alias_list")
        keys = [comparison_key(spelling) for spelling in (record["name"], *aliases)]
        row = Person.objects.filter(id=record["id"]).first() or Person.objects.filter(name_key__in=keys).first()
        if row is None:
            match = PersonAlias.objects.filter(alias_key__in=keys).first()
            row = match.person if match else None
        created = row is None
        if created:
            row = Person.objects.create(name_key=keys[0], **record)
        known = {row.name_key, *row.aliases.values_list("alias_key", flat=True)}
        new = [PersonAlias(person=row, alias=alias, alias_key=key) for alias, key in zip((record["name"], *aliases), keys) if key not in known]
        PersonAlias.objects.bulk_create({alias.alias_key: alias for alias in new}.values())
        notes_changed = not created and record["notes"] and record["notes"] != row.notes and record["updated_at"] > row.updated_at
        if notes_changed:
            row.notes = record["notes"]
            row.save(update_fields=["notes"])
        counts[ADDED if created else MERGED if new or notes_changed else SKIPPED] += 1
        if created or new or notes_changed:
            refresh_person_text(row)
        if created:
            # refresh_person_text stamps now; a person new to this Engine keeps the bundle's time.
            Person.objects.filter(id=row.id).update(updated_at=record["updated_at"])
        ids[record["id"]] = row.id
    return ids


RELATIONSHIP_FIELDS = ("note", "learned_at", "updated_at")


def _import_relationships(records: list[dict], person_ids: dict[str, str], counts: dict) -> None:
    touched = set()
    for record in records:
        record["source_id"] = person_ids.get(record["source_id"], record["source_id"])
        record["target_id"] = person_ids.get(record["target_id"], record["target_id"])
        record["kind"] = comparison_key(record["kind"])
        row = Relationship.objects.filter(id=record["id"]).first() or Relationship.objects.filter(
            source_id=record["source_id"], target_id=record["target_id"], kind=record["kind"]
        ).first()
        if row is None:
            Relationship.objects.create(**record)
            counts[ADDED] += 1
            touched.update(ref for ref in (record["source_id"], record["target_id"]) if ref)
        else:
            _overwrite(row, record, RELATIONSHIP_FIELDS, counts)
    for person in Person.objects.filter(id__in=touched):
        updated_at = person.updated_at
        refresh_person_text(person)
        Person.objects.filter(id=person.id).update(updated_at=updated_at)


KNOWLEDGE_FIELDS = ("subject", "content", "kind", "source", "confidence", "valid_from", "valid_until", "provenance", "mentions", "updated_at")


def _import_knowledge(records: list[dict], episode_ids: dict[str, str], counts: dict) -> None:
    successors = {}
    for record in records:
        successor = record.pop("superseded_by_id")
        record["episode_id"] = episode_ids.get(record["episode_id"], record["episode_id"])
        if record["episode_id"] and not Episode.objects.filter(id=record["episode_id"]).exists():
            record["episode_id"] = None
        keys = {"subject_key": comparison_key(record["subject"]), "content_key": comparison_key(record["content"], drop_articles=True)}
        row = KnowledgeItem.objects.filter(id=record["id"]).first()
        if row is not None:
            _overwrite(row, {**record, **keys}, (*KNOWLEDGE_FIELDS, "subject_key", "content_key"), counts)
            continue
        current = None
        if record["valid_until"] is None:
            current = KnowledgeItem.objects.filter(subject_key=keys["subject_key"], kind=record["kind"], valid_until__isnull=True).first()
        if current is not None and current.content_key == keys["content_key"]:
            if record["confidence"] > current.confidence:
                current.confidence = record["confidence"]
                current.save(update_fields=["confidence"])
                counts[MERGED] += 1
            else:
                counts[SKIPPED] += 1
            continue
        if current is not None and current.valid_from <= record["valid_from"]:
            current.valid_until = record["valid_from"]
            current.save(update_fields=["valid_until"])
            successors[current.id] = record["id"]
        elif current is not None:
            record["valid_until"] = current.valid_from
            successor = current.id
        KnowledgeItem.objects.create(**record, **keys)
        counts[ADDED] += 1
        if successor:
            successors[record["id"]] = successor
    for fact_id, successor in successors.items():
        if KnowledgeItem.objects.filter(id=successor).exists():
            KnowledgeItem.objects.filter(id=fact_id).update(superseded_by_id=successor)


def _import_soul(records: list[dict], counts: dict) -> None:
    for record in sorted(records, key=lambda record: record["version"]):
        if SoulVersion.objects.filter(id=record["id"]).exists():
            counts[SKIPPED] += 1
            continue
        latest = SoulVersion.objects.aggregate(latest=Max("version"))["latest"] or 0
        SoulVersion.objects.create(**{**record, "version": max(record["version"], latest + 1)})
        counts[ADDED] += 1


def _embed_missing() -> None:
    if not embeddings_enabled():
        return
    for model, text_of in ((KnowledgeItem, knowledge_text), (Episode, episode_text)):
        embed_rows(list(model.objects.filter(stored_vector__isnull=True)), text_of)
