"""API keys: making, finding, rotating and revoking them.

A key reads `ek_<prefix>_<secret>`. The prefix is public (shown in lists, used for lookup); the
database holds only the SHA-256 of the whole key. Keys are 256-bit random, so a fast hash is
enough: there is nothing to brute-force.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from engine.db import fetch_instances
from engine.errors import InvalidKey, KeyExpired, KeyRevoked, NotFound
from engine.models import ApiKey, KeyScope

KEY_MARK = "ek_"
PREFIX_LENGTH = 8
LAST_USED_RESOLUTION = timedelta(minutes=1)
BOOTSTRAP_PREFIX = "env"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _new_raw_key() -> tuple[str, str]:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return prefix, f"{KEY_MARK}{prefix}_{secrets.token_urlsafe(32)}"


def assign_new_secret(key: ApiKey) -> str:
    """Gives an unsaved key its prefix and hash; returns the raw key, which is never kept."""
    key.prefix, raw = _new_raw_key()
    key.key_hash = hash_key(raw)
    return raw


def create_key(*, name: str, scope: str = KeyScope.USER, expires_at=None) -> tuple[ApiKey, str]:
    """Makes a key and returns it with its raw value, which is never available again."""
    key = ApiKey(name=name, scope=scope, expires_at=expires_at)
    raw = assign_new_secret(key)
    key.save()
    return key, raw


def get_key(prefix: str) -> ApiKey:
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None:
        raise NotFound(f"No key has the prefix {prefix}.")
    return key


def revoke_key(*, prefix: str) -> ApiKey:
    key = get_key(prefix)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


@transaction.atomic
def rotate_key(*, prefix: str, grace_seconds: int | None = None) -> tuple[ApiKey, str]:
    """Replaces a key with a new one of the same name and scope; the old one stays valid for the
    grace period (ENGINE_KEY_ROTATION_GRACE_SECONDS unless given), then expires."""
    old = get_key(prefix)
    if old.revoked_at is not None:
        raise KeyRevoked(f"Key {prefix} is revoked; create a new one instead.")
    grace = settings.ENGINE_KEY_ROTATION_GRACE_SECONDS if grace_seconds is None else grace_seconds
    new, raw = create_key(name=old.name, scope=old.scope, expires_at=old.expires_at)
    grace_end = timezone.now() + timedelta(seconds=grace)
    old.expires_at = min(old.expires_at, grace_end) if old.expires_at else grace_end
    old.replaced_by = new
    old.save(update_fields=["expires_at", "replaced_by"])
    return new, raw


def _bootstrap_key() -> ApiKey:
    """ENGINE_API_KEY, for deployments: an admin key that lives only in the environment."""
    return ApiKey(prefix=BOOTSTRAP_PREFIX, name="ENGINE_API_KEY", scope=KeyScope.ADMIN)


def authenticate_key(raw_key: str) -> ApiKey:
    """Finds the live key matching `raw_key`.

    Raises InvalidKey, KeyRevoked or KeyExpired. Costs one query, plus one UPDATE at most once a
    minute per key for `last_used_at`."""
    digest = hash_key(raw_key)
    prefix = _prefix_of(raw_key)
    key = _find_by_prefix(prefix) if prefix else None
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        if settings.ENGINE_API_KEY_SHA256 and hmac.compare_digest(settings.ENGINE_API_KEY_SHA256, digest):
            return _bootstrap_key()
        raise InvalidKey()
    now = timezone.now()
    if key.revoked_at is not None:
        raise KeyRevoked()
    if key.expires_at is not None and key.expires_at <= now:
        raise KeyExpired()
    _record_use(key, now)
    return key


_LOOKUP_FIELDS = ["id", "prefix", "key_hash", "name", "scope", "last_used_at", "expires_at", "revoked_at"]


def _find_by_prefix(prefix: str) -> ApiKey | None:
    """The lookup every request makes, as one plain statement (engine.db)."""
    found = fetch_instances(ApiKey, _LOOKUP_FIELDS, "prefix = %s", [prefix])
    return found[0] if found else None


def _prefix_of(raw_key: str) -> str | None:
    if raw_key.startswith(KEY_MARK) and raw_key[len(KEY_MARK) + PREFIX_LENGTH : len(KEY_MARK) + PREFIX_LENGTH + 1] == "_":
        return raw_key[len(KEY_MARK) : len(KEY_MARK) + PREFIX_LENGTH]
    return None


def _record_use(key: ApiKey, now) -> None:
    stale_before = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > stale_before:
        return
    # Conditional, so that concurrent requests on several workers write once between them.
    ApiKey.objects.filter(pk=key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)).update(
        last_used_at=now
    )
    key.last_used_at = now
