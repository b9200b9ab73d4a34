"""The stamps of engine.worker_cache, and on PostgreSQL the function its triggers call."""

from django.db import migrations, models

from engine.worker_cache import install_stamp_function


def drop_stamp_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS engine_new_cache_stamp()")


class Migration(migrations.Migration):
    dependencies = [("engine", "0002_sqlite_wal")]
    operations = [
        migrations.CreateModel(
            name="CacheStamp",
            fields=[
                ("name", models.CharField(max_length=40, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(install_stamp_function, drop_stamp_function),
    ]
