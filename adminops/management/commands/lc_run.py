import json

from django.core.management.base import BaseCommand, CommandError

from adminops import learning
from adminops.serializers import LearningBatchSerializer
from engine.errors import EngineError


class Command(BaseCommand):
    help = "Run one Learning Centre batch now, in this process, and print it."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Produce the changeset without applying it.")

    def handle(self, *args, **options):
        try:
            batch = learning.queue_batch(dry_run=options["dry_run"], since=None)
        except EngineError as refused:
            raise CommandError(refused.message) from None
        batch = learning.run_batch(batch.id)
        self.stdout.write(json.dumps(LearningBatchSerializer(batch).data, indent=2, default=str))
        if batch.status == "failed":
            raise CommandError(f"batch {batch.id} failed: {batch.error}")
