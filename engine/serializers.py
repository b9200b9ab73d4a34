from rest_framework import serializers

from engine.models import ApiKey


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["prefix", "name", "scope", "created_at", "last_used_at", "expires_at", "revoked_at"]


class WhoAmISerializer(serializers.Serializer):
    prefix = serializers.CharField()
    name = serializers.CharField()
    scope = serializers.CharField()


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"not_a_string": "Send a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)
