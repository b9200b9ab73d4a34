"""Workers keep a copy of the connected servers (engine.worker_cache): a write to the servers or
the connections gives a new stamp."""

from django.db import migrations

from engine.worker_cache import watching


class Migration(migrations.Migration):
    dependencies = [("assets", "0001_initial"), ("engine", "0003_cachestamp")]
    operations = [watching(("assets_mcpserver", "connections"), ("assets_connection", "connections"))]
