"""Database connections in long-lived greenlets (runs, writers, streams, watchdogs), and the
plain statements that the hot path of a turn uses instead of the ORM.

Compiling an ORM query costs about 0.35 ms of Python on this CPU, where the statement itself
takes 0.02 ms on SQLite: a turn made some twenty-five before its first token. `fetch_instances`,
`insert_instance` (and `insert_values`) and `update_rows` write the same SQL with the ORM's own
value adaptation and converters, so what they store and read is exactly what the ORM would.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import AutoField, Model


def release_connection() -> None:
    """Call between bursts of queries in a greenlet that lives on (notes: serving-under-gevent,
    facts 5 and 6): the connection goes back to its pool (psycopg's on PostgreSQL, the one in
    engine/backends/sqlite3 on SQLite), so that a thousand open streams or turns do not hold a
    thousand connections. The next query takes one again. Streams call this for every event
    they send, so it looks the greenlet's connection up once and does nothing when none is open."""
    database = connections[DEFAULT_DB_ALIAS]
    if database.connection is not None:
        database.close()


def fetch_instances(model: type[Model], fields: list[str] | None = None, where: str = "", params=(), *, tail: str = "") -> list[Model]:
    """`SELECT fields FROM model's table [WHERE where] tail` as model instances holding those
    fields (all concrete fields for None; `task_id` names a foreign key). One plain statement."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a lookup in a greenlet-local
    columns = _columns(model, _fields_key(fields))
    sql = f"SELECT {', '.join(_quoted(db, columns))} FROM {db.ops.quote_name(model._meta.db_table)}"
    if where:
        sql += f" WHERE {where}"
    with db.cursor() as cursor:
        cursor.execute(f"{sql} {tail}", list(params))
        rows = cursor.fetchall()
    return _instances(db, model, columns, rows)


def select_columns(model: type[Model], fields: list[str] | None = None, *, alias: str = "") -> list[str]:
    """The quoted columns of `fields` (all concrete fields for None), each after `alias.` if
    given: what to select for `instances_from` to read the rows."""
    return _quoted(connections[DEFAULT_DB_ALIAS], _columns(model, _fields_key(fields)), alias)


def instances_from(model: type[Model], rows: list[tuple], fields: list[str] | None = None) -> list[Model]:
    """Model instances from rows of `select_columns(model, fields)`, converted as the ORM would."""
    return _instances(connections[DEFAULT_DB_ALIAS], model, _columns(model, _fields_key(fields)), rows)


def _quoted(db, columns: list, alias: str = "") -> list[str]:
    prefix = f"{alias}." if alias else ""
    return [f"{prefix}{db.ops.quote_name(column.target.column)}" for column in columns]


def _instances(db, model: type[Model], columns: list, rows: list[tuple]) -> list[Model]:
    if not rows:
        return []
    converters = [
        (index, [*db.ops.get_db_converters(column), *column.get_db_converters(db)], column)
        for index, column in enumerate(columns)
    ]
    converters = [(index, found, column) for index, found, column in converters if found]
    attnames = [column.target.attname for column in columns]
    instances = []
    for row in rows:
        values = list(row)
        for index, field_converters, column in converters:
            for convert in field_converters:
                values[index] = convert(values[index], column, db)
        instances.append(model.from_db(db.alias, attnames, values))
    return instances


def _fields_key(fields: list[str] | None) -> tuple[str, ...] | None:
    return None if fields is None else tuple(fields)


@functools.cache
def _columns(model: type[Model], fields: tuple[str, ...] | None) -> list:
    meta = model._meta
    chosen = meta.concrete_fields if fields is None else [meta.get_field(name) for name in fields]
    return [field.get_col(meta.db_table) for field in chosen]


def insert_instance(instance: Model, *, skip_conflicts: bool = False) -> bool:
    """Writes a new instance as `instance.save()` would (defaults, `auto_now_add`, the fields'
    own adaptation) in one plain statement. With `skip_conflicts`, a row that would break a
    unique constraint is not written and False is returned."""
    db = connections[DEFAULT_DB_ALIAS]
    meta = instance._meta
    auto = meta.pk if isinstance(meta.pk, AutoField) and getattr(instance, meta.pk.attname) is None else None
    fields, sql = _insert_statement(type(instance), db.vendor, auto is not None, skip_conflicts)
    values = insert_values(instance, fields)
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        if auto:
            row = cursor.fetchone()
            written = row is not None
            if written:
                setattr(instance, auto.attname, row[0])
        else:
            written = cursor.rowcount == 1
    if written:
        instance._state.adding, instance._state.db = False, db.alias
    return written


def insert_values(instance: Model, fields: list) -> list:
    """The values `instance.save()` would insert for `fields` (defaults, `auto_now_add`, the
    fields' own adaptation), for statements that write rows in ways of their own."""
    db = connections[DEFAULT_DB_ALIAS]
    return [field.get_db_prep_save(field.pre_save(instance, True), db) for field in fields]


@functools.cache
def _insert_statement(model: type[Model], vendor: str, auto_pk: bool, skip_conflicts: bool) -> tuple[list, str]:
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not (auto_pk and field is meta.pk)]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
        + (" ON CONFLICT DO NOTHING" if skip_conflicts else "")
        + (f" RETURNING {quote(meta.pk.column)}" if auto_pk else "")
    )
    return fields, sql


def fetch_prepared(sql: str, params: list) -> list[tuple]:
    """Runs a statement that PostgreSQL plans once per connection and then only executes, and
    returns its rows. Django's cursors bind values on the client, so they never prepare; for
    the event append's CTE, planning took as long as running it. PostgreSQL only. The pooled
    connections keep their prepared statements, which a pgbouncer in transaction mode before
    1.21 would not."""
    import psycopg

    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    # Prepared at once (prepare_threshold is 0, see settings), and wrapped as Django wraps its own
    # cursors, so that errors, execute_wrapper() and query capture see it as any other statement.
    with db._prepare_cursor(psycopg.Cursor(db.connection)) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if db.queries_logged and db.queries_log[-1]["sql"] is None:
        # psycopg keeps no text of a prepared query for Django's log (DEBUG, CaptureQueriesContext).
        db.queries_log[-1]["sql"] = db.ops.compose_sql(sql, params)
    return rows


def update_rows(model: type[Model], values: dict, where: str, params=()) -> int:
    """`UPDATE model's table SET fields = values WHERE where`, values adapted by their fields;
    returns the number of rows changed."""
    db = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    fields = [meta.get_field(name) for name in values]
    quote = db.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    prepared = [field.get_db_prep_save(values[field.name], db) for field in fields]
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}", [*prepared, *params])
        return cursor.rowcount
