"""PostgreSQL: the full-text GIN indexes stop using a pending list (`fastupdate = off`).

With the pending list on, new rows' entries wait in an unsorted list until a vacuum or 4 MB of
them, and every search scans that list in full: 7 ms per query at 100,000 facts after a bulk
import, and a steady cost between autovacuums (which come rarely on a large insert-only table).
Memory is written a few rows per turn, so updating the index at once costs the writes little.
SQLite: nothing to do.
"""

from django.db import migrations

INDEXES = ["memory_knowledgeitem_search_gin", "memory_episode_search_gin", "memory_person_search_gin"]


def without_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in INDEXES:
        schema_editor.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        schema_editor.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def with_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index in INDEXES:
            schema_editor.execute(f"ALTER INDEX {index} RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [("memory", "0003_soul_origin_learned")]

    operations = [migrations.RunPython(without_pending_list, with_pending_list)]
