"""Authentication by `X-Engine-Key`, and the two scopes."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from engine.errors import KEY_HEADER, InsufficientScope
from engine.keys import authenticate_key
from engine.models import ApiKey


class KeyHolder:
    """`request.user` for a request made with a key: the Engine is single-user, so the key is all."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key: ApiKey):
        self.key = key

    def __str__(self) -> str:
        return f"key {self.key.prefix}"


class EngineKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw_key = request.META.get("HTTP_X_ENGINE_KEY")
        if not raw_key:
            return None
        key = authenticate_key(raw_key)
        return KeyHolder(key), key

    def authenticate_header(self, request) -> str:
        return KEY_HEADER


class HasUserScope(BasePermission):
    """Any live key: user and admin scopes both."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class HasAdminScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return False
        if not request.auth.is_admin:
            raise InsufficientScope()
        return True
