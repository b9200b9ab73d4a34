"""Full-text indexes, per database vendor.

SQLite: one FTS5 table per store (porter stemming), keyed by the row's `fts_rowid` and kept in
sync by triggers. PostgreSQL: a generated `search_vector` tsvector column (English stemming,
weighted) with a GIN index, kept in sync by PostgreSQL itself.
"""

import re

from django.db import migrations

# table -> (fts table, {fts column: expression over the row `r`}, postgres tsvector expression)
INDEXES = {
    "memory_knowledgeitem": (
        "memory_knowledge_fts",
        {"subject": "r.subject", "content": "r.content"},
        "setweight(to_tsvector('english', subject), 'A') || setweight(to_tsvector('english', content), 'B')",
    ),
    "memory_episode": (
        "memory_episode_fts",
        {"summary": "r.summary", "outcome": "r.outcome"},
        "setweight(to_tsvector('english', summary), 'A') || setweight(to_tsvector('english', outcome), 'C')",
    ),
    "memory_person": (
        "memory_person_fts",
        {"name": "r.name", "details": "r.notes || ' ' || r.search_text"},
        "setweight(to_tsvector('english', name), 'A') || "
        "setweight(to_tsvector('english', notes || ' ' || search_text), 'B')",
    ),
}


def sqlite_statements(table: str, fts: str, columns: dict[str, str]) -> list[str]:
    names = ", ".join(columns)
    new_values = ", ".join(expr.replace("r.", "new.") for expr in columns.values())
    watched = ", ".join(sorted({"fts_rowid", *re.findall(r"r\.(\w+)", " ".join(columns.values()))}))
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, tokenize = 'porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.fts_rowid, {new_values}); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN DELETE FROM {fts} WHERE rowid = old.fts_rowid; END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {watched} ON {table} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = old.fts_rowid; "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.fts_rowid, {new_values}); END",
    ]


def postgres_statements(table: str, expression: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({expression}) STORED",
        f"CREATE INDEX {table}_search_gin ON {table} USING GIN (search_vector)",
    ]


def create_full_text(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table, (fts, columns, expression) in INDEXES.items():
        if vendor == "sqlite":
            statements = sqlite_statements(table, fts, columns)
        elif vendor == "postgresql":
            statements = postgres_statements(table, expression)
        else:
            raise RuntimeError(f"memory search supports SQLite and PostgreSQL, not {vendor}")
        for statement in statements:
            schema_editor.execute(statement)


def drop_full_text(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table, (fts, _, _) in INDEXES.items():
        if vendor == "sqlite":
            for suffix in ("ai", "ad", "au"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {fts}")
        elif vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")


class Migration(migrations.Migration):
    dependencies = [("memory", "0001_initial")]

    operations = [migrations.RunPython(create_full_text, drop_full_text)]
