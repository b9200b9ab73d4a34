from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from memory.models import EpisodeOutcome, KnowledgeKind


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a misspelt filter is an error, not a silent no-op."""

    def to_internal_value(self, data):
        unknown = set(data) - set(self.fields) if isinstance(data, dict) else set()
        if unknown:
            raise serializers.ValidationError({field: ["Unknown field."] for field in sorted(unknown)})
        return super().to_internal_value(data)


class TimeRangeFilters(StrictSerializer):
    since = serializers.DateTimeField(required=False, help_text="Inclusive lower bound.")
    until = serializers.DateTimeField(required=False, help_text="Exclusive upper bound.")

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["until must be after since."]})
        return attrs


class KnowledgeFilters(TimeRangeFilters):
    kind = serializers.ListField(child=serializers.ChoiceField(choices=KnowledgeKind.choices), required=False, min_length=1)
    subject = serializers.CharField(required=False, max_length=200)
    min_confidence = serializers.FloatField(required=False, min_value=0, max_value=1)
    include_history = serializers.BooleanField(required=False, default=False, help_text="Also superseded and forgotten facts.")


class EpisodeFilters(TimeRangeFilters):
    outcome = serializers.ListField(child=serializers.ChoiceField(choices=EpisodeOutcome.choices), required=False, min_length=1)
    task_id = serializers.CharField(required=False, max_length=200)


class SocialFilters(TimeRangeFilters):
    kind = serializers.ListField(child=serializers.CharField(max_length=100), required=False, min_length=1)


class SearchRequest(StrictSerializer):
    query = serializers.CharField(max_length=1000, help_text='Words; "quoted phrases" must appear exactly.')
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class KnowledgeSearchRequest(SearchRequest):
    filters = KnowledgeFilters(required=False)


class EpisodeSearchRequest(SearchRequest):
    filters = EpisodeFilters(required=False)


class SocialSearchRequest(SearchRequest):
    filters = SocialFilters(required=False)


class KnowledgeHitSerializer(serializers.Serializer):
    id = serializers.CharField(source="item.id")
    subject = serializers.CharField(source="item.subject")
    content = serializers.CharField(source="item.content")
    type = serializers.CharField(source="item.kind")
    confidence = serializers.FloatField(source="item.confidence")
    source = serializers.CharField(source="item.source")
    valid_from = serializers.DateTimeField(source="item.valid_from")
    valid_until = serializers.DateTimeField(source="item.valid_until", allow_null=True)
    superseded_by = serializers.CharField(source="item.superseded_by_id", allow_null=True)
    provenance = serializers.DictField(source="item.provenance")
    score = serializers.FloatField(help_text="Higher is better; comparable within one response only.")


class EpisodeHitSerializer(serializers.Serializer):
    id = serializers.CharField(source="item.id")
    task_id = serializers.CharField(source="item.task_id")
    run_id = serializers.CharField(source="item.run_id")
    summary = serializers.CharField(source="item.summary")
    outcome = serializers.CharField(source="item.outcome")
    occurred_at = serializers.DateTimeField(source="item.occurred_at")
    score = serializers.FloatField()


class PersonRefSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class RelationshipSerializer(serializers.Serializer):
    id = serializers.CharField()
    source = PersonRefSerializer(allow_null=True, help_text="null: the user.")
    target = PersonRefSerializer()
    kind = serializers.CharField()
    note = serializers.CharField()
    learned_at = serializers.DateTimeField()


class PersonHitSerializer(serializers.Serializer):
    id = serializers.CharField(source="item.id")
    name = serializers.CharField(source="item.name")
    aliases = serializers.ListField(source="item.alias_list", child=serializers.CharField())
    notes = serializers.CharField(source="item.notes")
    relationships = serializers.SerializerMethodField()
    learned_at = serializers.DateTimeField(source="item.created_at")
    score = serializers.FloatField()

    @extend_schema_field(RelationshipSerializer(many=True))
    def get_relationships(self, hit) -> list[dict]:
        person = hit.item
        relationships = sorted([*person.incoming.all(), *person.outgoing.all()], key=lambda rel: rel.learned_at)
        return RelationshipSerializer(relationships, many=True).data


class SoulSerializer(serializers.Serializer):
    identity = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField())
    patterns = serializers.ListField(child=serializers.CharField())


class SoulVersionSerializer(SoulSerializer):
    id = serializers.CharField()
    version = serializers.IntegerField()
    origin = serializers.CharField()
    note = serializers.CharField()
    template_digest = serializers.CharField()
    created_at = serializers.DateTimeField()


class FullSoulSerializer(SoulVersionSerializer):
    template_path = serializers.CharField()
    history = SoulVersionSerializer(many=True)


class StoreCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    merged = serializers.IntegerField()
    skipped = serializers.IntegerField()


class ImportReportSerializer(serializers.Serializer):
    knowledge = StoreCountsSerializer()
    episodes = StoreCountsSerializer()
    people = StoreCountsSerializer()
    relationships = StoreCountsSerializer()
    soul = StoreCountsSerializer()
