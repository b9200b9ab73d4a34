from rest_framework import serializers

from adminops.models import Feedback, FeedbackKind


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
