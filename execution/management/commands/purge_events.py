from django.core.management.base import BaseCommand

from execution.watchdog import purge_expired_events


class Command(BaseCommand):
    help = "Delete events past CHANNEL_STATE_TTL_ACTIVE (ended turns) or CHANNEL_STATE_TTL_HITL (waiting turns)."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {purge_expired_events()} expired events.")
