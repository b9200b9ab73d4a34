"""Database connections in long-lived greenlets (runs, writers, streams, watchdogs)."""

from django.db import DEFAULT_DB_ALIAS, connections


def release_connection() -> None:
    """Call between bursts of queries in a greenlet that lives on (notes: serving-under-gevent,
    facts 5 and 6): the connection goes back to its pool (psycopg's on PostgreSQL, the one in
    engine/backends/sqlite3 on SQLite), so that a thousand open streams or turns do not hold a
    thousand connections. The next query takes one again. Streams call this for every event
    they send, so it looks the greenlet's connection up once and does nothing when none is open."""
    database = connections[DEFAULT_DB_ALIAS]
    if database.connection is not None:
        database.close()
