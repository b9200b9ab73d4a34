"""On PostgreSQL, a NOTIFY whenever a key changes, so that workers can keep copies of the keys
they have read (engine.keys.KeyCopies)."""

from django.db import migrations

from engine.keys import install_change_notice, remove_change_notice


class Migration(migrations.Migration):
    dependencies = [("engine", "0003_cachestamp")]
    operations = [migrations.RunPython(install_change_notice, remove_change_notice)]
