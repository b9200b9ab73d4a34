"""Asset Directory operations: connect, complete an OAuth grant, refresh, disconnect.

Secrets pass through here only on their way into or out of `assets.crypto`; nothing in this
module logs or returns them.
"""

import logging
import secrets as random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assets import crypto, mcp, oauth
from assets.errors import (
    ApiKeyRejected, ApiKeyRequired, ConnectionNeedsReauth, ConnectionNotFound, McpAuthRejected,
    OAuthAccessDenied, OAuthCodeMissing, OAuthExchangeFailed, OAuthProviderError, OAuthStateExpired,
    OAuthStateUnknown, OAuthStateUsed, ServerDisabled, ServerMisconfigured, ServerNotFound,
)
from assets.models import (
    AuthMethod, Connection, ConnectionStatus, McpServer, OAuthState, ServerStatus, Transport,
)

logger = logging.getLogger(__name__)
STALE_STATE_AGE = timedelta(days=1)


@dataclass
class Completion:
    connection: Connection
    return_url: str


def get_available_server(name: str) -> McpServer:
    server = McpServer.objects.filter(name=name).first()
    if server is None:
        raise ServerNotFound(f"No MCP server named {name!r} is in the catalog.")
    if server.status != ServerStatus.AVAILABLE:
        raise ServerDisabled()
    if (server.transport == Transport.STDIO and not server.command) or (
        server.transport != Transport.STDIO and not server.url
    ):
        raise ServerMisconfigured()
    return server


def get_connection(ref_id: str) -> Connection:
    connection = Connection.objects.select_related("server").filter(ref_id=ref_id).first()
    if connection is None:
        raise ConnectionNotFound()
    return connection


def connect(*, server_name: str, server_config: dict | None, redirect_uri: str, return_url: str = "") -> Connection:
    """Starts a connection. Servers without OAuth are checked by listing their tools and saved
    as connected; nothing is written when the check fails (McpUnreachable, ApiKeyRejected, ...).
    OAuth servers: discovery and, without a configured client id, dynamic registration happen
    first (OAuthDiscoveryFailed, OAuthRegistrationFailed); then a pending connection and its
    single-use state are saved and the connection carries the auth_url to visit."""
    server = get_available_server(server_name)
    config = server_config or {}
    if server.auth_method == AuthMethod.OAUTH:
        return _start_oauth(server, config, redirect_uri, return_url)
    connection = Connection(server=server, status=ConnectionStatus.CONNECTED)
    if server.auth_method == AuthMethod.API_KEY:
        if not config.get("api_key"):
            raise ApiKeyRequired()
        connection.secrets_sealed = crypto.seal({"api_key": str(config["api_key"])})
    try:
        mcp.probe_tools(connection)
    except McpAuthRejected as exc:
        raise ApiKeyRejected() from exc
    connection.save()
    return connection


def _start_oauth(server: McpServer, config: dict, redirect_uri: str, return_url: str) -> Connection:
    scopes = list(config.get("scopes") or server.oauth_scopes)
    endpoints = oauth.discover(server.url, server.oauth_authorization_server)
    if server.oauth_client_id:
        client_secret = crypto.unseal(server.oauth_client_secret_sealed).get("client_secret", "")
        client = oauth.ClientCredentials(client_id=server.oauth_client_id, client_secret=client_secret)
    else:
        client = oauth.register_client(endpoints, redirect_uri=redirect_uri, scopes=scopes)
    connection = Connection(
        server=server, status=ConnectionStatus.PENDING_OAUTH, scopes=scopes,
        secrets_sealed=crypto.seal({"client_secret": client.client_secret} if client.client_secret else {}),
        oauth_client_id=client.client_id, oauth_issuer=endpoints.issuer,
        oauth_authorization_endpoint=endpoints.authorization_endpoint,
        oauth_token_endpoint=endpoints.token_endpoint, oauth_revocation_endpoint=endpoints.revocation_endpoint,
        oauth_resource=endpoints.resource, redirect_uri=redirect_uri,
    )
    with transaction.atomic():
        connection.save()
        _issue_authorization(connection, return_url)
    return connection


def _issue_authorization(connection: Connection, return_url: str = "") -> None:
    """A new single-use state and PKCE pair; the connection's auth_url points at them. States
    that expired a day ago go (until then a replay is still recognised as one)."""
    OAuthState.objects.filter(expires_at__lt=timezone.now() - STALE_STATE_AGE).delete()
    verifier, challenge = oauth.new_pkce_pair()
    state = OAuthState.objects.create(
        state=random.token_urlsafe(32), connection=connection, redirect_uri=connection.redirect_uri,
        code_verifier_sealed=crypto.seal({"code_verifier": verifier}), return_url=return_url,
        expires_at=timezone.now() + timedelta(seconds=settings.ENGINE_OAUTH_STATE_TTL_SECONDS),
    )
    connection.auth_url = oauth.authorization_url(
        _endpoints(connection), client_id=connection.oauth_client_id, redirect_uri=connection.redirect_uri,
        scopes=connection.scopes, state=state.state, challenge=challenge,
    )
    connection.save(update_fields=["auth_url", "updated_at"])


def _endpoints(connection: Connection) -> oauth.ProviderEndpoints:
    return oauth.ProviderEndpoints(
        issuer=connection.oauth_issuer, authorization_endpoint=connection.oauth_authorization_endpoint,
        token_endpoint=connection.oauth_token_endpoint, revocation_endpoint=connection.oauth_revocation_endpoint,
        registration_endpoint="", resource=connection.oauth_resource, scopes_supported=[],
    )


def _client(connection: Connection, stored: dict) -> oauth.ClientCredentials:
    return oauth.ClientCredentials(client_id=connection.oauth_client_id, client_secret=stored.get("client_secret", ""))


def _mark_failed(connection: Connection, code: str) -> None:
    connection.status, connection.last_error, connection.auth_url = ConnectionStatus.FAILED, code, ""
    connection.save(update_fields=["status", "last_error", "auth_url", "updated_at"])


def _claim_state(state: str) -> OAuthState:
    """Marks the state used with one conditional UPDATE, so that of two racing callbacks exactly
    one wins. Raises OAuthStateUnknown, OAuthStateUsed or OAuthStateExpired."""
    now = timezone.now()
    claimed = OAuthState.objects.filter(state=state, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    row = OAuthState.objects.select_related("connection__server").filter(state=state).first()
    if row is None:
        raise OAuthStateUnknown()
    if claimed:
        return row
    if row.used_at is not None:
        raise OAuthStateUsed()
    if row.connection.status == ConnectionStatus.PENDING_OAUTH:
        _mark_failed(row.connection, OAuthStateExpired.code)
    raise OAuthStateExpired()


def complete_authorization(*, state: str, code: str = "", error: str = "", error_description: str = "") -> Completion:
    """Finishes an OAuth grant on whichever worker the provider's redirect reached: claims the
    single-use state, exchanges the code with the stored PKCE verifier, stores the tokens.
    Every failure after the claim leaves the connection `failed` with `last_error` set, and
    raises: OAuthState{Unknown,Used,Expired}, OAuthAccessDenied, OAuthProviderError,
    OAuthCodeMissing, OAuthExchangeFailed."""
    row = _claim_state(state)
    connection = row.connection
    if error:
        failure = OAuthAccessDenied if error == "access_denied" else OAuthProviderError
        _mark_failed(connection, failure.code)
        raise failure(f"The provider answered {error}: {error_description}"[:300] if error_description else None)
    if not code:
        _mark_failed(connection, OAuthCodeMissing.code)
        raise OAuthCodeMissing()
    stored = crypto.unseal(connection.secrets_sealed)
    try:
        tokens = oauth.exchange_code(
            token_endpoint=connection.oauth_token_endpoint, client=_client(connection, stored),
            redirect_uri=row.redirect_uri, state=state, code=code, resource=connection.oauth_resource,
            code_verifier=crypto.unseal(row.code_verifier_sealed)["code_verifier"], scopes=connection.scopes,
        )
    except OAuthExchangeFailed:
        _mark_failed(connection, OAuthExchangeFailed.code)
        raise
    _store_tokens(connection, stored, tokens)
    mcp.forget(connection.ref_id)
    return Completion(connection=connection, return_url=row.return_url)


def _store_tokens(connection: Connection, stored: dict, tokens: oauth.TokenSet) -> None:
    stored = {**stored, "access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
    connection.secrets_sealed = crypto.seal(stored)
    connection.status, connection.expires_at = ConnectionStatus.CONNECTED, tokens.expires_at
    connection.scopes, connection.auth_url, connection.last_error = tokens.scopes, "", ""
    connection.save(update_fields=["secrets_sealed", "status", "expires_at", "scopes", "auth_url", "last_error",
                                   "updated_at"])


def _needs_refresh(connection: Connection) -> bool:
    if connection.status != ConnectionStatus.CONNECTED or connection.expires_at is None:
        return False
    margin = timedelta(seconds=settings.ENGINE_OAUTH_REFRESH_MARGIN_SECONDS)
    return connection.expires_at - margin <= timezone.now()


def ensure_fresh_token(connection_ref: str) -> Connection:
    """The connection, with an access token that is not about to expire. Costs one query when
    the token is fresh; otherwise refreshes it (see `refresh_token_once`)."""
    connection = get_connection(connection_ref)
    return refresh_token_once(connection_ref) if _needs_refresh(connection) else connection


def refresh_token_once(connection_ref: str, *, stale_access_token: str = "") -> Connection:
    """Refreshes the access token, one refresh at a time per connection across all workers:
    holds the connection's row lock (select_for_update; SQLite's IMMEDIATE transactions
    serialize the same way) and re-checks the expiry after taking it, so a rotating refresh
    token is never used twice. `stale_access_token`: the server refused that token before its
    expiry, so refresh unless it was already replaced. A rejected refresh commits `needs_reauth`
    with a fresh auth_url and raises ConnectionNeedsReauth; an unreachable provider raises
    OAuthExchangeFailed."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().select_related("server").get(ref_id=connection_ref)
        stored = crypto.unseal(connection.secrets_sealed)
        refused = bool(stale_access_token) and stored.get("access_token") == stale_access_token
        if not (_needs_refresh(connection) or (refused and connection.status == ConnectionStatus.CONNECTED)):
            return connection  # another worker refreshed while we waited for the lock
        try:
            if not stored.get("refresh_token"):
                raise oauth.RefreshRejected("no refresh token")
            tokens = oauth.refresh(
                token_endpoint=connection.oauth_token_endpoint, client=_client(connection, stored),
                refresh_token=stored["refresh_token"], resource=connection.oauth_resource, scopes=connection.scopes,
            )
        except oauth.RefreshRejected as exc:
            logger.warning("refresh rejected for %s (%s); it needs re-authorization", connection_ref, exc)
            connection.status, connection.last_error = ConnectionStatus.NEEDS_REAUTH, "refresh_rejected"
            connection.save(update_fields=["status", "last_error", "updated_at"])
            _issue_authorization(connection)
            rejected = True
        else:
            _store_tokens(connection, stored, tokens)
            rejected = False
    if rejected:
        mcp.forget(connection_ref)
        raise ConnectionNeedsReauth()
    return connection


def disconnect(*, ref_id: str) -> bool:
    """Revokes the connection's tokens at the provider (RFC 7009, when it offers revocation),
    closes its MCP session and deletes it. True when the provider confirmed the revocation."""
    connection = get_connection(ref_id)
    stored = crypto.unseal(connection.secrets_sealed)
    revoked = False
    if connection.oauth_revocation_endpoint:
        client = _client(connection, stored)
        for hint in ("refresh_token", "access_token"):
            revoked |= oauth.revoke(revocation_endpoint=connection.oauth_revocation_endpoint, client=client,
                                    token=stored.get(hint, ""), hint=hint)
    mcp.forget(ref_id)
    connection.delete()
    return revoked
