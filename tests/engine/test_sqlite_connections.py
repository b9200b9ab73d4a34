"""SQLite connections are kept for the next greenlet, never shared, never stale."""

import pytest
from django.conf import settings
from django.db import connection

from engine.backends.sqlite3.base import DatabaseWrapper

pytestmark = pytest.mark.skipif(settings.DATABASE_IS_POSTGRES, reason="the SQLite backend's own connection reuse")


@pytest.fixture(autouse=True)
def _scratch_databases_allowed(django_db_blocker):
    with django_db_blocker.unblock():
        yield


def wrapper_for(path) -> DatabaseWrapper:
    return DatabaseWrapper({**connection.settings_dict, "NAME": str(path)}, alias=f"reuse-{path.name}")


def test_a_closed_connection_serves_the_next_one(tmp_path):
    first, second = wrapper_for(tmp_path / "a.sqlite3"), wrapper_for(tmp_path / "a.sqlite3")
    first.ensure_connection()
    raw = first.connection
    first.close()
    second.ensure_connection()
    assert second.connection is raw
    first.ensure_connection()  # the one kept is taken: a new one, never a shared one
    assert first.connection is not raw
    first.close()
    second.close()


def test_an_unfinished_transaction_is_rolled_back_before_the_connection_is_kept(tmp_path):
    holder = wrapper_for(tmp_path / "b.sqlite3")
    with holder.cursor() as cursor:
        cursor.execute("CREATE TABLE t (x integer)")
    holder.connection.execute("BEGIN IMMEDIATE")
    holder.connection.execute("INSERT INTO t VALUES (1)")
    raw = holder.connection
    holder.close()
    assert not raw.in_transaction
    reader = wrapper_for(tmp_path / "b.sqlite3")
    with reader.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")
        assert cursor.fetchone() == (0,)
    assert reader.connection is raw
    reader.close()


def test_a_database_file_made_again_is_never_served_through_an_old_connection(tmp_path):
    path = tmp_path / "c.sqlite3"
    db = wrapper_for(path)
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE old (x integer)")
    db.close()
    path.unlink()
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'old'")
        assert cursor.fetchone() == (0,)
    db.close()
