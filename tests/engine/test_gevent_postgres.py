"""psycopg 3 under gevent: greenlets wait on PostgreSQL cooperatively, through Django's pool."""

import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from tests.live_server import ROOT, database_url_for_server

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="runs in the PostgreSQL pass (DATABASE_URL)"),
]

GREENLETS_SLEEPING_ON_POSTGRES = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import time
    import django
    import gevent
    django.setup()
    import psycopg.waiting
    from django.db import connection, connections

    def sleep_in_postgres():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(0.5)")
        finally:
            connections.close_all()

    started = time.monotonic()
    gevent.joinall([gevent.spawn(sleep_in_postgres) for _ in range(8)], raise_error=True)
    print(psycopg.waiting.wait.__name__, round(time.monotonic() - started, 3))
    """
)


@pytest.mark.django_db
def test_concurrent_greenlets_wait_on_postgres_together():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "engine.settings", "DATABASE_URL": database_url_for_server()}
    result = subprocess.run(
        [sys.executable, "-c", GREENLETS_SLEEPING_ON_POSTGRES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    wait_function, elapsed = result.stdout.split()
    assert wait_function != "wait_c"
    # Eight half-second sleeps one after the other would take 4 s.
    assert float(elapsed) < 1.5
