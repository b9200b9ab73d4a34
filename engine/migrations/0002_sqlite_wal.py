"""SQLite: write-ahead logging lets readers and the writer work at once. The mode is kept in the
database file, so it is set once here rather than on every new connection."""

from django.db import migrations


def use_write_ahead_log(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")


class Migration(migrations.Migration):
    atomic = False  # SQLite cannot change its journal mode inside a transaction
    dependencies = [("engine", "0001_initial")]
    operations = [migrations.RunPython(use_write_ahead_log, migrations.RunPython.noop)]
