from rest_framework import serializers

from assets.models import Connection, ConnectionStatus, McpServer


class ServerSerializer(serializers.ModelSerializer):
    server_name = serializers.CharField(source="name")

    class Meta:
        model = McpServer
        fields = ["server_name", "display_name", "transport", "auth_method", "status"]


class ConnectionSerializer(serializers.ModelSerializer):
    server_name = serializers.CharField(source="server.name")
    auth_url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = ["ref_id", "server_name", "status", "scopes", "expires_at", "auth_url", "error"]

    def get_auth_url(self, connection: Connection) -> str | None:
        """Present while the user must (re)visit the provider: pending_oauth and needs_reauth."""
        if connection.status in (ConnectionStatus.PENDING_OAUTH, ConnectionStatus.NEEDS_REAUTH):
            return connection.auth_url or None
        return None

    def get_error(self, connection: Connection) -> str | None:
        return connection.last_error or None

    def to_representation(self, connection: Connection) -> dict:
        data = super().to_representation(connection)
        return {key: value for key, value in data.items() if value is not None or key == "expires_at"}


class ConnectRequestSerializer(serializers.Serializer):
    server_name = serializers.CharField(max_length=100)
    server_config = serializers.DictField(required=False, allow_null=True, default=None,
                                          help_text='{"api_key": "..."} for api_key servers; {"scopes": [...]} for OAuth')
    return_url = serializers.URLField(required=False, allow_blank=True, default="",
                                      help_text="where the browser goes after the OAuth callback")


class ConnectResponseSerializer(serializers.Serializer):
    ref_id = serializers.CharField()
    status = serializers.CharField()
    auth_url = serializers.CharField(required=False)


class CallbackRequestSerializer(serializers.Serializer):
    state = serializers.CharField(max_length=200)
    code = serializers.CharField(required=False, allow_blank=True, default="")
    error = serializers.CharField(required=False, allow_blank=True, default="")
    error_description = serializers.CharField(required=False, allow_blank=True, default="")


class DisconnectResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    ref_id = serializers.CharField()
    revoked = serializers.BooleanField()
