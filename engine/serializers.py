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
