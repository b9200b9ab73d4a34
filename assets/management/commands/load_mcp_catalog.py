from django.core.management.base import BaseCommand, CommandError

from assets.catalog import load_server_catalog


class Command(BaseCommand):
    help = "Loads MCP servers from ENGINE_CATALOG_DIR/mcp_servers/*.yaml|*.json into the database."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="catalog directory (default ENGINE_CATALOG_DIR)")

    def handle(self, *args, **options):
        report = load_server_catalog(options["dir"])
        for name in report.loaded:
            self.stdout.write(f"loaded   {name}")
        for name in report.disabled:
            self.stdout.write(f"disabled {name} (its file is gone)")
        for failure in report.failed:
            self.stderr.write(f"FAILED   {failure.path}: {failure.reason}")
        if report.failed:
            raise CommandError(f"{len(report.failed)} catalog file(s) could not be loaded")
