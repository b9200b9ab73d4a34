"""Vectors move out of the searched rows into one side table per store.

A 1.5 KB `embedding` made each memory row about 1.9 KB: ranking a common word read twice the heap
pages, and PostgreSQL only moves values out of line (TOAST) for rows over 2 KB. The new tables
are created, existing vectors copied into them, then the old columns dropped.

The columns are dropped with plain ALTER TABLE statements: on SQLite, Django's RemoveField of an
indexed column rebuilds the table, and a rebuilt table loses the full-text triggers of 0002.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

STORES = [
    ("knowledgeitem", "KnowledgeVector"),
    ("episode", "EpisodeVector"),
    ("person", "PersonVector"),
]
BATCH = 1000


def copy_vectors_out(apps, schema_editor):
    for row_name, vector_name in STORES:
        rows, vectors = apps.get_model("memory", row_name), apps.get_model("memory", vector_name)
        batch = []
        embedded = rows.objects.filter(embedding__isnull=False).values_list("id", "embedding", "embedded_at")
        for row_id, vector, embedded_at in embedded.iterator(chunk_size=BATCH):
            batch.append(vectors(row_id=row_id, vector=bytes(vector), embedded_at=embedded_at or django.utils.timezone.now()))
            if len(batch) == BATCH:
                vectors.objects.bulk_create(batch)
                batch = []
        vectors.objects.bulk_create(batch)


def copy_vectors_back(apps, schema_editor):
    for row_name, vector_name in STORES:
        rows, vectors = apps.get_model("memory", row_name), apps.get_model("memory", vector_name)
        for row_id, vector, embedded_at in vectors.objects.values_list("row_id", "vector", "embedded_at").iterator(chunk_size=BATCH):
            rows.objects.filter(id=row_id).update(embedding=bytes(vector), embedded_at=embedded_at)


def drop_vector_columns(apps, schema_editor):
    connection, quote = schema_editor.connection, schema_editor.quote_name
    for row_name, _ in STORES:
        table = apps.get_model("memory", row_name)._meta.db_table
        if connection.vendor == "sqlite":
            # SQLite refuses to drop an indexed column; PostgreSQL drops the index with it.
            with connection.cursor() as cursor:
                constraints = connection.introspection.get_constraints(cursor, table)
            for name, details in constraints.items():
                if details["index"] and details["columns"] == ["embedded_at"]:
                    schema_editor.execute(f"DROP INDEX {quote(name)}")
        for column in ("embedding", "embedded_at"):
            schema_editor.execute(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}")


def add_vector_columns(apps, schema_editor):
    for row_name, _ in STORES:
        model = apps.get_model("memory", row_name)
        for column in ("embedding", "embedded_at"):
            schema_editor.add_field(model, model._meta.get_field(column))


def side_table(name: str, row_model: str) -> migrations.CreateModel:
    return migrations.CreateModel(
        name=name,
        fields=[
            ("vector", models.BinaryField()),
            ("embedded_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            (
                "row",
                models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE,
                    primary_key=True,
                    related_name="stored_vector",
                    serialize=False,
                    to=f"memory.{row_model}",
                ),
            ),
        ],
        options={"abstract": False},
    )


class Migration(migrations.Migration):
    dependencies = [("memory", "0004_gin_without_pending_list")]

    operations = [
        side_table("KnowledgeVector", "knowledgeitem"),
        side_table("EpisodeVector", "episode"),
        side_table("PersonVector", "person"),
        migrations.RunPython(copy_vectors_out, copy_vectors_back),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_vector_columns, add_vector_columns)],
            state_operations=[
                migrations.RemoveField(model_name=model_name, name=field)
                for model_name, _ in STORES
                for field in ("embedding", "embedded_at")
            ],
        ),
    ]
