import json

from django.core.management.base import BaseCommand

from memory.soul import reload_soul_template


class Command(BaseCommand):
    help = "Make the catalog's soul template (soul.yaml) the next soul version."

    def handle(self, *args, **options):
        soul = reload_soul_template()
        soul.pop("history", None)
        self.stdout.write(json.dumps(soul, indent=2, default=str))
