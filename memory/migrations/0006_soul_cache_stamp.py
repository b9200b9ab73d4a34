"""Workers keep a copy of the soul (engine.worker_cache): a write to it gives a new stamp."""

from django.db import migrations

from engine.worker_cache import watching


class Migration(migrations.Migration):
    dependencies = [("memory", "0005_vectors_in_side_tables"), ("engine", "0003_cachestamp")]
    operations = [watching(("memory_soulversion", "soul"))]
