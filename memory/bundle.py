"""The memory bundle format: what GET /memory/export writes and POST /memory/import reads.

    {"format": "engine-memory-bundle", "version": 1, "exported_at": "<ISO 8601>",
     "stores": {"knowledge": [...], "episodes": [...], "people": [...], "relationships": [...],
                "soul": [...]}}

Records carry their stable ids, so importing the same bundle twice changes nothing. Derived data
(comparison keys, full-text rows, embeddings) is not exported; it is rebuilt on import. Memory
holds no credentials, so neither does the bundle.
"""

from rest_framework import serializers

from engine.errors import register_error
from memory.models import EpisodeOutcome, KnowledgeKind, SoulOrigin

BUNDLE_FORMAT = "engine-memory-bundle"
BUNDLE_VERSION = 1
STORES = ("knowledge", "episodes", "people", "relationships", "soul")

UnsupportedBundleVersion = register_error(
    400, "unsupported_bundle_version", "This bundle was made by a newer Engine; upgrade before importing it."
)


class KnowledgeRecord(serializers.Serializer):
    id = serializers.CharField(max_length=40)
    subject = serializers.CharField(max_length=200)
    content = serializers.CharField()
    kind = serializers.ChoiceField(choices=KnowledgeKind.choices)
    source = serializers.CharField(max_length=200, allow_blank=True)
    confidence = serializers.FloatField(min_value=0, max_value=1)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)
    provenance = serializers.DictField()
    episode_id = serializers.CharField(max_length=40, allow_null=True)
    superseded_by = serializers.CharField(source="superseded_by_id", max_length=40, allow_null=True)
    mentions = serializers.IntegerField(min_value=1)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def validate(self, attrs):
        if attrs["valid_until"] is not None and attrs["valid_until"] < attrs["valid_from"]:
            raise serializers.ValidationError({"valid_until": ["valid_until is before valid_from."]})
        return attrs


class EpisodeRecord(serializers.Serializer):
    id = serializers.CharField(max_length=40)
    task_id = serializers.CharField(max_length=200)
    run_id = serializers.CharField(max_length=64)
    summary = serializers.CharField()
    outcome = serializers.ChoiceField(choices=EpisodeOutcome.choices)
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PersonRecord(serializers.Serializer):
    id = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    aliases = serializers.ListField(source="alias_list", child=serializers.CharField(max_length=200))
    notes = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RelationshipRecord(serializers.Serializer):
    id = serializers.CharField(max_length=40)
    source_id = serializers.CharField(max_length=40, allow_null=True)
    target_id = serializers.CharField(max_length=40)
    kind = serializers.CharField(max_length=100)
    note = serializers.CharField(allow_blank=True)
    learned_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def validate(self, attrs):
        if attrs["source_id"] == attrs["target_id"]:
            raise serializers.ValidationError({"target_id": ["A person cannot be related to themselves."]})
        return attrs


class SoulRecord(serializers.Serializer):
    id = serializers.CharField(max_length=40)
    version = serializers.IntegerField(min_value=1)
    identity = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField(allow_blank=True))
    patterns = serializers.ListField(child=serializers.CharField(allow_blank=True))
    origin = serializers.ChoiceField(choices=SoulOrigin.choices)
    note = serializers.CharField(max_length=200, allow_blank=True)
    template_digest = serializers.CharField(max_length=64, allow_blank=True)
    created_at = serializers.DateTimeField()


RECORDS = {
    "knowledge": KnowledgeRecord,
    "episodes": EpisodeRecord,
    "people": PersonRecord,
    "relationships": RelationshipRecord,
    "soul": SoulRecord,
}


class StoresSerializer(serializers.Serializer):
    knowledge = KnowledgeRecord(many=True)
    episodes = EpisodeRecord(many=True)
    people = PersonRecord(many=True)
    relationships = RelationshipRecord(many=True)
    soul = SoulRecord(many=True)

    def validate(self, attrs):
        errors = {}
        for store in STORES:
            ids = [record["id"] for record in attrs[store]]
            if len(ids) != len(set(ids)):
                errors[store] = ["Two records share an id."]
        versions = [record["version"] for record in attrs["soul"]]
        if len(versions) != len(set(versions)):
            errors["soul"] = ["Two soul records share a version number."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class BundleSerializer(serializers.Serializer):
    format = serializers.CharField()
    version = serializers.IntegerField(min_value=1)
    exported_at = serializers.DateTimeField()
    stores = StoresSerializer()

    def validate_format(self, value: str) -> str:
        if value != BUNDLE_FORMAT:
            raise serializers.ValidationError(f"This is not a memory bundle; format must be {BUNDLE_FORMAT!r}.")
        return value


def check_bundle_version(data) -> None:
    """Refuses a bundle from a newer Engine before its stores are looked at (their shape may differ)."""
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > BUNDLE_VERSION:
        raise UnsupportedBundleVersion(
            f"This bundle is format version {version}; this Engine reads versions up to {BUNDLE_VERSION}.",
            details={"version": version, "supported": BUNDLE_VERSION},
        )
