"""Database connections in long-lived greenlets (runs, writers, streams, watchdogs)."""

import logging
import sqlite3

from django.db import connection

logger = logging.getLogger(__name__)

_sqlite_anchor: sqlite3.Connection | None = None


def release_connection() -> None:
    """Call between bursts of queries in a greenlet that lives on (notes: serving-under-gevent,
    facts 5 and 6). On PostgreSQL the connection goes back to the pool, so that a thousand open
    streams do not hold a thousand connections. On SQLite it is kept: there is no pool, and
    closing a WAL database's last connection checkpoints it, which costs milliseconds."""
    if connection.vendor == "postgresql":
        connection.close()


def hold_sqlite_open() -> None:
    """Keeps one idle connection to a SQLite database open for the life of the worker.
    Each greenlet opens and closes its own connection; when the last one closes, SQLite
    checkpoints the WAL file and syncs it to disk, which would cost every turn milliseconds.
    No-op on PostgreSQL. Call once per worker process."""
    global _sqlite_anchor
    if connection.vendor == "sqlite" and _sqlite_anchor is None:
        try:
            anchor = sqlite3.connect(connection.settings_dict["NAME"], check_same_thread=False)
            anchor.execute("SELECT count(*) FROM sqlite_master").fetchall()  # attaches to the WAL
        except sqlite3.Error:
            logger.warning("cannot open the SQLite database; /health will say so", exc_info=True)
            return
        _sqlite_anchor = anchor
