"""Credentials at rest: Fernet tokens under the keys in ENGINE_SECRETS_KEYS (newest first).

MultiFernet encrypts with the first key and decrypts with any, so a key is rotated by
prepending a new one, re-encrypting (`manage.py rotate_asset_secrets`), then dropping the old.
"""

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from assets.errors import SecretsUnreadable


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENGINE_SECRETS_KEYS))


def seal(values: dict) -> str:
    """Encrypts a small dict of secrets; an empty dict seals to the empty string."""
    if not values:
        return ""
    return _current().encrypt(json.dumps(values).encode()).decode()


def unseal(sealed: str) -> dict:
    """Decrypts what `seal` made. Raises SecretsUnreadable when no configured key opens it."""
    if not sealed:
        return {}
    try:
        return json.loads(_current().decrypt(sealed.encode()))
    except InvalidToken as exc:
        raise SecretsUnreadable() from exc


def reseal(sealed: str) -> str:
    """Re-encrypts under the newest key (key rotation)."""
    if not sealed:
        return ""
    try:
        return _current().rotate(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretsUnreadable() from exc
