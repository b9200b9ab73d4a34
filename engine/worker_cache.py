"""Each worker's copies of what every turn reads and what rarely changes: the soul, the skills
listing, the connected MCP servers. On PostgreSQL each of those reads was a round trip before
the turn's first token.

A copy is good while its stamp is unchanged. Database triggers, which each owning app's
migration installs with `watch`, give a group a new random stamp on every write to its tables,
in the writer's own transaction, whoever writes: this worker, another one, a management command,
the admin, plain SQL. A turn reads all stamps once, at its start (on PostgreSQL in the statement
that starts it), and enters `reading(stamps)`; inside, `cached(group, load)` returns the copy made
under the same stamp or loads a new one. So a turn sees those rows as they were at its start or
later. Outside `reading` (API views, commands), `cached` always loads.

Random values rather than counters: a counter rolled back with its transaction, or a table of
them emptied (tests flush), would repeat a value and pass an old copy as current.

On SQLite, a migration that rebuilds a watched table (most AlterFields do) drops its triggers:
such a migration must call `watch` again (tests/engine/test_worker_cache.py checks every table).
"""

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import Error as DatabaseErrors, connection, migrations

logger = logging.getLogger(__name__)

T = TypeVar("T")
STAMP_TABLE = "engine_cachestamp"

_stamps: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("worker_cache_stamps", default=None)
_copies: dict[str, tuple[int, object]] = {}


def current_stamps() -> dict[str, int]:
    """Every group's stamp, in one plain statement."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, value FROM {STAMP_TABLE}")
        return dict(cursor.fetchall())


@contextlib.contextmanager
def reading(stamps: dict[str, int] | None) -> Iterator[None]:
    """Within this block (in this greenlet only: each has its own context), `cached` serves the
    copies made under these stamps; None reads them now. When they cannot be read, nothing is
    served from copies (the caller's own statements will meet the same database)."""
    if stamps is None:
        try:
            stamps = current_stamps()
        except DatabaseErrors:
            logger.warning("could not read the worker cache's stamps; loading everything", exc_info=True)
            stamps = {}
    token = _stamps.set(stamps)
    try:
        yield
    finally:
        _stamps.reset(token)


def cached(group: str, load: Callable[[], T]) -> T:
    """`load()`, or this worker's copy of it when the copy's stamp is the current turn's. The
    value is shared by every turn of the worker: callers must not change it. Not for a
    transaction that writes the group's tables: rolled back, its copy would pass as current."""
    stamps = _stamps.get()
    stamp = stamps.get(group) if stamps else None
    if stamp is None:  # outside a turn, or the group has no stamp row (its table was emptied)
        return load()
    copy = _copies.get(group)
    if copy is not None and copy[0] == stamp:
        return copy[1]
    value = load()
    _copies[group] = (stamp, value)
    return value


# --- the triggers, for migrations -------------------------------------------------------------

_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION engine_new_cache_stamp() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    {new_stamp};
    RETURN NULL;
END $$
"""
_SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
_RANDOM = {"postgresql": "floor(random() * 9.0e18)::bigint", "sqlite": "random()"}


def install_stamp_function(apps, schema_editor) -> None:
    """RunPython: the PostgreSQL function the triggers call (engine's own migration)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_POSTGRES_FUNCTION.format(new_stamp=_new_stamp_sql("TG_ARGV[0]", _RANDOM["postgresql"])))


def watch(schema_editor, table: str, group: str) -> None:
    """Installs the triggers that give `group` a new stamp on every write to `table`."""
    unwatch(schema_editor, table, group)
    vendor = schema_editor.connection.vendor
    new_stamp = _new_stamp_sql(f"'{group}'", _RANDOM[vendor])
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {table}_new_cache_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION engine_new_cache_stamp('{group}')"
        )
    else:
        for event in _SQLITE_EVENTS:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_new_cache_stamp_{event.lower()} AFTER {event} ON {table} BEGIN {new_stamp}; END"
            )
    schema_editor.execute(new_stamp)  # the group's first stamp


def _new_stamp_sql(group: str, random: str) -> str:
    return (f"INSERT INTO {STAMP_TABLE} (name, value) VALUES ({group}, {random}) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value")


def unwatch(schema_editor, table: str, group: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_new_cache_stamp ON {table}")
    else:
        for event in _SQLITE_EVENTS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_new_cache_stamp_{event.lower()}")


def watching(*tables_and_groups: tuple[str, str]):
    """A migration operation that watches these (table, group) pairs; reversed, it stops."""
    def forwards(apps, schema_editor):
        for table, group in tables_and_groups:
            watch(schema_editor, table, group)

    def backwards(apps, schema_editor):
        for table, group in tables_and_groups:
            unwatch(schema_editor, table, group)

    return migrations.RunPython(forwards, backwards)
