"""API keys: making, finding, rotating and revoking them.

A key reads `ek_<prefix>_<secret>`. The prefix is public (shown in lists, used for lookup); the
database holds only the SHA-256 of the whole key. Keys are 256-bit random, so a fast hash is
enough: there is nothing to brute-force.

On PostgreSQL each worker keeps copies of the keys it has looked up (`KeyCopies`), so that a
request makes no query for its key; a trigger tells every worker when a key changes (migration
0004). The presented key is still hashed and compared with the copy's hash on every request.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
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
# The trigger of migration 0004 sends a NOTIFY on this channel when a key changes (but for its
# last_used_at), is deleted, or the table is emptied.
KEYS_CHANGED_CHANNEL = "engine_keys_changed"
KEY_COPY_SECONDS = 10.0
KEY_COPIES_MAX = 1000
# The listener shows it still hears the server at least this often (execution.wakeups).
LISTENER_CHECK_SECONDS = 5.0


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
    """The lookup every request makes: this worker's copy, or one plain statement (engine.db)."""
    return key_copies.lookup(prefix, _read_key)


def _read_key(prefix: str) -> ApiKey | None:
    found = fetch_instances(ApiKey, _LOOKUP_FIELDS, "prefix = %s", [prefix])
    return found[0] if found else None


class KeyCopies:
    """This worker's copies of the keys it has read, by prefix (not engine.worker_cache: its
    stamps cost a read, which is all a key lookup is). Copies are served only while the worker
    hears of every change to the keys: its listener (execution.wakeups) calls `trust()` once it
    listens on KEYS_CHANGED_CHANNEL, `forget()` for every notice there, `heard()` each time the
    server has answered it (every LISTENER_CHECK_SECONDS at most) and `distrust()` when its
    connection ends. So a revocation, a new expiry or scope, whoever writes it (the API, the
    admin, another process, plain SQL), takes effect in each worker as soon as its listener reads
    the notice, milliseconds after the commit. When the listener has not been heard for three
    checks, the copies are dropped and not served. Whatever else goes wrong (a trigger bypassed,
    a connection that died unseen), a copy is read again after KEY_COPY_SECONDS. Without a
    listener (SQLite, tests, commands) every lookup reads the table. The copies are shared by the
    worker's requests: callers must not change them, but for `last_used_at`."""

    def __init__(self):
        self._copies: dict[str, tuple[float, ApiKey]] = {}
        self._trusted = False
        self._heard_at = 0.0
        self._changes = 0  # forget() calls so far: a read that overlapped one is not kept

    def lookup(self, prefix: str, read: Callable[[str], ApiKey | None]) -> ApiKey | None:
        if not self._listening():
            return read(prefix)
        copy = self._copies.get(prefix)
        if copy is not None and time.monotonic() - copy[0] < KEY_COPY_SECONDS:
            return copy[1]
        changes_before = self._changes
        key = read(prefix)
        if key is not None and self._listening() and self._changes == changes_before:
            if len(self._copies) >= KEY_COPIES_MAX:
                self._copies.clear()
            self._copies[prefix] = (time.monotonic(), key)
        return key

    def _listening(self) -> bool:
        if self._trusted and time.monotonic() - self._heard_at > 3 * LISTENER_CHECK_SECONDS:
            self.distrust()  # notices may have been missed: start again once it is heard
        return self._trusted

    def trust(self) -> None:
        self.forget()  # changes made before the listener listened were not heard
        self._heard_at = time.monotonic()
        self._trusted = True

    def heard(self) -> None:
        if self._trusted:
            self._heard_at = time.monotonic()

    def distrust(self) -> None:
        self._trusted = False
        self.forget()

    def forget(self) -> None:
        self._changes += 1
        self._copies.clear()


key_copies = KeyCopies()


_NOTICE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION engine_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{KEYS_CHANGED_CHANNEL}', '');
    RETURN NULL;
END $$
"""
# A change to any column but last_used_at, which requests move on once a minute (compared as
# JSON, so that a column added later is watched too); every delete; an emptied table.
_NOTICE_TRIGGERS = [
    """CREATE TRIGGER engine_apikey_changed AFTER UPDATE ON engine_apikey FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION engine_keys_changed()""",
    """CREATE TRIGGER engine_apikey_removed AFTER DELETE OR TRUNCATE ON engine_apikey
    FOR EACH STATEMENT EXECUTE FUNCTION engine_keys_changed()""",
]


def install_change_notice(apps, schema_editor) -> None:
    """RunPython (PostgreSQL only): the triggers behind `KeyCopies`."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_NOTICE_FUNCTION)
        for trigger in _NOTICE_TRIGGERS:
            schema_editor.execute(trigger)


def remove_change_notice(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS engine_apikey_changed ON engine_apikey")
        schema_editor.execute("DROP TRIGGER IF EXISTS engine_apikey_removed ON engine_apikey")
        schema_editor.execute("DROP FUNCTION IF EXISTS engine_keys_changed()")


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
