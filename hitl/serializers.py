from rest_framework import serializers

from engine.serializers import StrictCharField


class RespondSerializer(serializers.Serializer):
    task_id = StrictCharField(max_length=200)
    answer = StrictCharField(allow_blank=True, max_length=20000, trim_whitespace=False)
    request_id = StrictCharField(max_length=40, required=False)
    feedback = StrictCharField(max_length=20000, required=False, allow_blank=True, default="")
    content_blocks = serializers.ListField(child=serializers.DictField(), required=False, default=list, max_length=20)
    always_allow = serializers.BooleanField(required=False, default=False)
    always_allow_pattern = StrictCharField(max_length=500, required=False, allow_null=True, default=None)


class RespondResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    request_id = serializers.CharField()
    resolution = serializers.CharField()


class PendingQuerySerializer(serializers.Serializer):
    task_id = serializers.CharField(max_length=200, required=False)


class PendingRequestSerializer(serializers.Serializer):
    request_id = serializers.CharField(source="id")
    task_id = serializers.CharField(source="task.task_id")
    run_id = serializers.CharField()
    kind = serializers.CharField()
    question = serializers.CharField(source="prompt")
    options = serializers.ListField(child=serializers.CharField())
    tool = serializers.CharField(source="tool_name")
    tool_call_id = serializers.CharField()
    input = serializers.DictField(source="tool_input")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
