from rest_framework import serializers

from adminops.models import Feedback, FeedbackKind, LearningBatch


class FeedbackSerializer(serializers.ModelSerializer):
    feedback_id = serializers.CharField(source="id", read_only=True)
    kind = serializers.ChoiceField(choices=FeedbackKind.choices)
    task_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    message_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    text = serializers.CharField(max_length=20000, required=False, allow_blank=True, trim_whitespace=True)
    details = serializers.DictField(required=False)

    class Meta:
        model = Feedback
        fields = ["feedback_id", "kind", "task_id", "message_id", "rating", "text", "details", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        kind, rating, text = attrs["kind"], attrs.get("rating"), attrs.get("text", "")
        if kind == FeedbackKind.RATING and rating is None:
            raise serializers.ValidationError({"rating": ["A rating needs a value from 1 to 5."]})
        if kind != FeedbackKind.RATING and rating is not None:
            raise serializers.ValidationError({"rating": [f"Only rating feedback carries a rating, not {kind}."]})
        if kind != FeedbackKind.RATING and not text:
            raise serializers.ValidationError({"text": [f"{kind} feedback needs a text."]})
        return attrs


class ChangeListSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())


class CatalogChangesSerializer(serializers.Serializer):
    skills = ChangeListSerializer()
    agents = ChangeListSerializer()
    permission_rules = ChangeListSerializer()
    mcp_servers = ChangeListSerializer()


class CatalogFailureSerializer(serializers.Serializer):
    path = serializers.CharField()
    reason = serializers.CharField()


class CatalogReloadSerializer(serializers.Serializer):
    changed = CatalogChangesSerializer()
    failed = CatalogFailureSerializer(many=True)
    generation = serializers.IntegerField(help_text="Bumped by every reload; each worker compares its copy to it.")


class SoulReloadSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.IntegerField()
    origin = serializers.CharField()
    note = serializers.CharField()
    identity = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField())
    patterns = serializers.ListField(child=serializers.CharField())
    template_digest = serializers.CharField()
    template_path = serializers.CharField()
    created_at = serializers.DateTimeField()


class LcTriggerSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)
    since = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                      help_text="Read activity from here; default: since the last successful batch.")


class LcTriggeredSerializer(serializers.Serializer):
    batch_id = serializers.CharField(source="id")
    status = serializers.CharField()


class LearningBatchSerializer(serializers.ModelSerializer):
    batch_id = serializers.CharField(source="id")
    changeset = serializers.JSONField(allow_null=True)
    applied = serializers.JSONField()
    inputs = serializers.JSONField()

    class Meta:
        model = LearningBatch
        fields = ["batch_id", "status", "dry_run", "since", "until", "inputs", "changeset", "applied", "error",
                  "created_at", "started_at", "finished_at"]
