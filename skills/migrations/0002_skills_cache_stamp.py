"""Workers keep a copy of the skills listing (engine.worker_cache): a write to the custom skills
or a catalog reload gives a new stamp."""

from django.db import migrations

from engine.worker_cache import watching


class Migration(migrations.Migration):
    dependencies = [("skills", "0001_initial"), ("engine", "0003_cachestamp")]
    operations = [watching(("skills_skill", "skills"), ("skills_cataloggeneration", "skills"))]
