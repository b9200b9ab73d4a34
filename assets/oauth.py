"""OAuth 2.1 for MCP servers, the protocol half: discovery (RFC 9728 protected-resource metadata,
then RFC 8414 authorization-server metadata), dynamic client registration (RFC 7591),
authorization code with PKCE S256 (requests-oauthlib), refresh, and revocation (RFC 7009).

No database here: `assets.services` stores what these functions return.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.utils import timezone
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from assets.errors import (
    OAuthDiscoveryFailed, OAuthExchangeFailed, OAuthInsecureEndpoint, OAuthRegistrationFailed,
)

CLIENT_NAME = "The Engine"


@dataclass
class ProviderEndpoints:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    registration_endpoint: str
    resource: str
    scopes_supported: list[str]


@dataclass
class ClientCredentials:
    client_id: str
    client_secret: str


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    scopes: list[str]


class RefreshRejected(Exception):
    """The provider refused the refresh token (invalid_grant and friends): the user must re-grant."""


def _timeout() -> float:
    return settings.ENGINE_OAUTH_HTTP_TIMEOUT


def _require_secure(url: str) -> str:
    if url and urlsplit(url).scheme != "https" and not settings.ENGINE_OAUTH_INSECURE_HTTP:
        raise OAuthInsecureEndpoint()
    return url


def _get_json(url: str) -> dict | None:
    try:
        response = requests.get(url, headers={"Accept": "application/json"}, timeout=_timeout())
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _well_known(base: str, suffix: str) -> list[str]:
    """RFC 8414 §3 / RFC 9728 §3: the well-known segment goes between host and path."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    urls = [urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{path}", "", ""))]
    if path:
        urls.append(urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}", "", "")))
    return urls


def discover(server_url: str, authorization_server: str = "") -> ProviderEndpoints:
    """Finds the provider of an MCP server: its protected-resource metadata names the
    authorization server (unless the catalog pins one), whose metadata names the endpoints.
    Raises OAuthDiscoveryFailed or OAuthInsecureEndpoint."""
    resource = server_url
    if not authorization_server:
        for url in _well_known(server_url, "oauth-protected-resource"):
            metadata = _get_json(url)
            if metadata and metadata.get("authorization_servers"):
                authorization_server = metadata["authorization_servers"][0]
                resource = metadata.get("resource") or server_url
                break
        else:
            # Pre-RFC 9728 servers (MCP 2025-03-26): the server's origin is its own provider.
            parts = urlsplit(server_url)
            authorization_server = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    candidates = _well_known(authorization_server, "oauth-authorization-server")
    candidates += _well_known(authorization_server, "openid-configuration")
    for url in candidates:
        metadata = _get_json(url)
        if metadata and metadata.get("authorization_endpoint") and metadata.get("token_endpoint"):
            if "S256" not in metadata.get("code_challenge_methods_supported", ["S256"]):
                raise OAuthDiscoveryFailed("The provider does not support PKCE S256.")
            return ProviderEndpoints(
                issuer=metadata.get("issuer", authorization_server),
                authorization_endpoint=_require_secure(metadata["authorization_endpoint"]),
                token_endpoint=_require_secure(metadata["token_endpoint"]),
                revocation_endpoint=_require_secure(metadata.get("revocation_endpoint", "")),
                registration_endpoint=_require_secure(metadata.get("registration_endpoint", "")),
                resource=resource,
                scopes_supported=list(metadata.get("scopes_supported", [])),
            )
    raise OAuthDiscoveryFailed()


def register_client(endpoints: ProviderEndpoints, *, redirect_uri: str, scopes: list[str]) -> ClientCredentials:
    """RFC 7591 dynamic client registration. Raises OAuthRegistrationFailed."""
    if not endpoints.registration_endpoint:
        raise OAuthRegistrationFailed("No client id is configured and the provider offers no registration.")
    request = {
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    if scopes:
        request["scope"] = " ".join(scopes)
    try:
        response = requests.post(endpoints.registration_endpoint, json=request, timeout=_timeout())
        body = response.json() if response.status_code in (200, 201) else {}
    except (requests.RequestException, ValueError) as exc:
        raise OAuthRegistrationFailed() from exc
    if not body.get("client_id"):
        raise OAuthRegistrationFailed(f"The provider answered the registration with HTTP {response.status_code}.")
    return ClientCredentials(client_id=body["client_id"], client_secret=body.get("client_secret", ""))


def new_pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(
    endpoints: ProviderEndpoints, *, client_id: str, redirect_uri: str, scopes: list[str], state: str, challenge: str
) -> str:
    session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=scopes or None, state=state)
    url, _ = session.authorization_url(
        endpoints.authorization_endpoint, code_challenge=challenge, code_challenge_method="S256",
        resource=endpoints.resource,  # RFC 8707, required by the MCP authorization spec
    )
    return url


def _token_set(token: dict, requested_scopes: list[str], previous_refresh: str = "") -> TokenSet:
    expires_at = None
    if token.get("expires_in") is not None:
        expires_at = timezone.now() + timedelta(seconds=float(token["expires_in"]))
    scope = token.get("scope")
    scopes = scope.split() if isinstance(scope, str) else list(scope or requested_scopes)
    return TokenSet(
        access_token=token["access_token"],
        # A provider that does not rotate omits refresh_token from the refresh answer.
        refresh_token=token.get("refresh_token") or previous_refresh,
        expires_at=expires_at,
        scopes=scopes,
    )


def exchange_code(
    *, token_endpoint: str, client: ClientCredentials, redirect_uri: str, state: str, code: str,
    code_verifier: str, resource: str, scopes: list[str],
) -> TokenSet:
    """Trades an authorization code for tokens. Raises OAuthExchangeFailed."""
    session = OAuth2Session(client.client_id, redirect_uri=redirect_uri, state=state)
    try:
        token = session.fetch_token(
            token_endpoint, code=code, code_verifier=code_verifier, include_client_id=True,
            client_secret=client.client_secret or None, resource=resource, timeout=_timeout(),
        )
    except (OAuth2Error, requests.RequestException, ValueError) as exc:
        raise OAuthExchangeFailed() from exc
    return _token_set(token, scopes)


def refresh(
    *, token_endpoint: str, client: ClientCredentials, refresh_token: str, resource: str, scopes: list[str]
) -> TokenSet:
    """Uses the refresh token once. Raises RefreshRejected when the provider refuses the grant,
    OAuthExchangeFailed when the provider cannot be reached or answers nonsense."""
    session = OAuth2Session(client.client_id)
    try:
        token = session.refresh_token(
            token_endpoint, refresh_token=refresh_token, client_id=client.client_id,
            client_secret=client.client_secret or None, resource=resource, timeout=_timeout(),
        )
    except OAuth2Error as exc:
        raise RefreshRejected(exc.error) from exc
    except (requests.RequestException, ValueError) as exc:
        raise OAuthExchangeFailed("The provider could not be reached to refresh the token.") from exc
    return _token_set(token, scopes, previous_refresh=refresh_token)


def revoke(*, revocation_endpoint: str, client: ClientCredentials, token: str, hint: str) -> bool:
    """RFC 7009. True when the provider confirmed; a failure is reported, never raised, so
    that a disconnect always completes."""
    if not revocation_endpoint or not token:
        return False
    data = {"token": token, "token_type_hint": hint, "client_id": client.client_id}
    if client.client_secret:
        data["client_secret"] = client.client_secret
    try:
        response = requests.post(revocation_endpoint, data=data, timeout=_timeout())
    except requests.RequestException:
        return False
    return response.status_code == 200
