import time

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from engine.keys import create_key
from engine.models import KeyScope
from tests.live_server import EngineServer


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _server_work_ends_before_the_flush(request):
    """A turn keeps running after its client hangs up, and a finished one still asks for the
    task's next queued turn. Work still going on when the test database is flushed leaves rows
    for the next test, and on PostgreSQL its locks can deadlock the flush's TRUNCATE. So a test
    on a committed database waits for the server's runs and statements before the flush."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction"))
    if transactional:
        request.getfixturevalue("transactional_db")  # set up first, so it is flushed after this waits
    yield
    if transactional:
        _wait_for_the_servers_work()


def _wait_for_the_servers_work(timeout: float = 15.0) -> None:
    from execution.models import Run, RunStatus

    deadline = time.monotonic() + timeout
    while Run.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.QUEUED]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    while connection.vendor == "postgresql" and _other_sessions_at_work() and time.monotonic() < deadline:
        time.sleep(0.02)


def _other_sessions_at_work() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
        )
        return cursor.fetchone()[0] > 0


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
