"""The server catalog, the user's connections to those servers, and pending OAuth grants.

Secrets (API keys, tokens, client secrets, PKCE verifiers) live only in `*_sealed` columns,
encrypted by `assets.crypto`; nothing else holds them.
"""

from django.db import models
from django.db.models import Q

from engine.ids import new_id


class Transport(models.TextChoices):
    STDIO = "stdio"
    SSE = "sse"
    STREAMABLE_HTTP = "streamable_http"


class AuthMethod(models.TextChoices):
    OAUTH = "oauth"
    API_KEY = "api_key"
    NONE = "none"


class ServerStatus(models.TextChoices):
    AVAILABLE = "available"
    DISABLED = "disabled"


class ServerSource(models.TextChoices):
    CATALOG = "catalog"
    ADMIN = "admin"


class McpServer(models.Model):
    """An MCP server the Engine knows, from a catalog file or the Django admin."""

    name = models.SlugField(max_length=100, unique=True, help_text="server_name in the API")
    display_name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    transport = models.CharField(max_length=20, choices=Transport.choices)
    url = models.URLField(max_length=500, blank=True, default="", help_text="sse / streamable_http endpoint")
    command = models.JSONField(default=list, blank=True, help_text="stdio: argv, for example [\"python\", \"server.py\"]")
    env = models.JSONField(default=dict, blank=True, help_text="stdio: extra environment (no secrets)")
    auth_method = models.CharField(max_length=10, choices=AuthMethod.choices, default=AuthMethod.NONE)
    api_key_header = models.CharField(
        max_length=100, blank=True, default="Authorization", help_text="Authorization sends 'Bearer <key>'"
    )
    api_key_env = models.CharField(max_length=100, blank=True, default="", help_text="stdio: env var for the key")
    oauth_client_id = models.CharField(max_length=300, blank=True, default="", help_text="empty: RFC 7591 registration")
    oauth_client_secret_sealed = models.TextField(blank=True, default="", editable=False)
    oauth_scopes = models.JSONField(default=list, blank=True)
    oauth_authorization_server = models.URLField(
        max_length=500, blank=True, default="", help_text="empty: discovered from the server (RFC 9728)"
    )
    status = models.CharField(max_length=12, choices=ServerStatus.choices, default=ServerStatus.AVAILABLE)
    source = models.CharField(max_length=10, choices=ServerSource.choices, default=ServerSource.ADMIN)
    catalog_path = models.CharField(max_length=500, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "MCP server"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(transport__in=Transport.values), name="mcpserver_transport_valid"),
            models.CheckConstraint(condition=Q(auth_method__in=AuthMethod.values), name="mcpserver_auth_valid"),
            models.CheckConstraint(condition=Q(status__in=ServerStatus.values), name="mcpserver_status_valid"),
            models.CheckConstraint(condition=Q(source__in=ServerSource.values), name="mcpserver_source_valid"),
            models.CheckConstraint(
                condition=Q(transport=Transport.STDIO) | ~Q(url=""), name="mcpserver_remote_has_url"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConnectionStatus(models.TextChoices):
    PENDING_OAUTH = "pending_oauth"
    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    FAILED = "failed"


def new_connection_ref() -> str:
    return new_id("conn")


class Connection(models.Model):
    """The user's connection to one MCP server, with its (sealed) credentials."""

    ref_id = models.CharField(primary_key=True, max_length=40, default=new_connection_ref, editable=False)
    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="connections")
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="when the access token expires")
    # api_key, access_token, refresh_token, client_secret: encrypted together.
    secrets_sealed = models.TextField(blank=True, default="", editable=False)
    oauth_client_id = models.CharField(max_length=300, blank=True, default="")
    oauth_issuer = models.CharField(max_length=500, blank=True, default="")
    oauth_authorization_endpoint = models.CharField(max_length=500, blank=True, default="")
    oauth_token_endpoint = models.CharField(max_length=500, blank=True, default="")
    oauth_revocation_endpoint = models.CharField(max_length=500, blank=True, default="")
    oauth_resource = models.CharField(max_length=500, blank=True, default="")
    redirect_uri = models.CharField(max_length=500, blank=True, default="")
    auth_url = models.TextField(blank=True, default="", help_text="where the user grants access (pending, reauth)")
    last_error = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ConnectionStatus.values), name="connection_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.ref_id} ({self.server_id})"


class OAuthState(models.Model):
    """One authorization request in flight: single-use, bound to a connection, expiring.

    In the database so that whichever worker receives the provider's redirect can complete it."""

    state = models.CharField(max_length=64, unique=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="oauth_states")
    code_verifier_sealed = models.TextField(editable=False)
    redirect_uri = models.CharField(max_length=500)
    return_url = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Serves the clean-up of stale states.
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth state"
