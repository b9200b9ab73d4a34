import json

from django.core.management.base import BaseCommand

from adminops.catalog_reload import reload_catalog


class Command(BaseCommand):
    help = "Reload skills, agents, permission rules and MCP servers from the catalog, in every worker."

    def handle(self, *args, **options):
        report = reload_catalog()
        self.stdout.write(json.dumps(report, indent=2))
        if report["failed"]:
            self.stderr.write(f"{len(report['failed'])} catalog file(s) failed to load; see \"failed\".")
