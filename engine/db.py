"""Database connections in long-lived greenlets (runs, writers, streams, watchdogs), and the
plain statements that the hot path of a turn uses instead of the ORM.

Compiling an ORM query costs about 0.35 ms of Python on this CPU, where the statement itself
takes 0.02 ms on SQLite: a turn made some twenty-five before its first token. `fetch_instances`,
`insert_instance` and `update_rows` write the same SQL with the ORM's own value adaptation and
converters, so what they store and read is exactly what the ORM would.
"""

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
    meta = model._meta
    columns = list(meta.concrete_fields) if fields is None else [meta.get_field(name) for name in fields]
    table = connection.ops.quote_name(meta.db_table)
    sql = f"SELECT {', '.join(connection.ops.quote_name(f.column) for f in columns)} FROM {table}"
    if where:
        sql += f" WHERE {where}"
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} {tail}", list(params))
        rows = cursor.fetchall()
    if not rows:
        return []
    converters = [_converters(field, meta.db_table) for field in columns]
    attnames = [field.attname for field in columns]
    instances = []
    for row in rows:
        values = list(row)
        for index, field_converters in enumerate(converters):
            for convert, expression in field_converters:
                values[index] = convert(values[index], expression, connection)
        instances.append(model.from_db(connection.alias, attnames, values))
    return instances


def _converters(field, table: str) -> list:
    column = field.get_col(table)
    return [(convert, column) for convert in connection.ops.get_db_converters(column) + column.get_db_converters(connection)]


def insert_instance(instance: Model, *, skip_conflicts: bool = False) -> bool:
    """Writes a new instance as `instance.save()` would (defaults, `auto_now_add`, the fields'
    own adaptation) in one plain statement. With `skip_conflicts`, a row that would break a
    unique constraint is not written and False is returned."""
    meta = instance._meta
    fields = [
        field for field in meta.concrete_fields
        if not (isinstance(field, AutoField) and getattr(instance, field.attname) is None)
    ]
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    quote = connection.ops.quote_name
    auto = meta.pk if meta.pk not in fields else None
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
        + (" ON CONFLICT DO NOTHING" if skip_conflicts else "")
        + (f" RETURNING {quote(auto.column)}" if auto else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if auto:
            row = cursor.fetchone()
            written = row is not None
            if written:
                setattr(instance, auto.attname, row[0])
        else:
            written = cursor.rowcount == 1
    if written:
        instance._state.adding, instance._state.db = False, connection.alias
    return written


def update_rows(model: type[Model], values: dict, where: str, params=()) -> int:
    """`UPDATE model's table SET fields = values WHERE where`, values adapted by their fields;
    returns the number of rows changed."""
    meta = model._meta
    fields = [meta.get_field(name) for name in values]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    prepared = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}", [*prepared, *params])
        return cursor.rowcount
