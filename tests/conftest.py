import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from engine.keys import create_key
from engine.models import KeyScope
from tests.live_server import EngineServer


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def alice_key(db) -> str:
    """A raw user-scoped key."""
    return create_key(name="alice", scope=KeyScope.USER)[1]


@pytest.fixture
def admin_key(db) -> str:
    return create_key(name="operator", scope=KeyScope.ADMIN)[1]


@pytest.fixture
def alice(api, alice_key):
    """An API client that sends alice's key."""
    api.credentials(HTTP_X_ENGINE_KEY=alice_key)
    return api


@pytest.fixture(scope="session")
def engine_server(django_db_setup, django_db_blocker):
    """One real gunicorn+gevent server for the session, on the test database."""
    with django_db_blocker.unblock():
        server = EngineServer().start()
    yield server
    server.stop()
