from django.core.management.base import BaseCommand
from django.db import transaction

from assets import crypto
from assets.models import Connection, McpServer, OAuthState


class Command(BaseCommand):
    help = "Re-encrypts every stored credential under the first key of ENGINE_SECRETS_KEYS."

    @transaction.atomic
    def handle(self, *args, **options):
        count = 0
        for model, column in ((Connection, "secrets_sealed"), (McpServer, "oauth_client_secret_sealed"),
                              (OAuthState, "code_verifier_sealed")):
            for row in model.objects.select_for_update().exclude(**{column: ""}):
                setattr(row, column, crypto.reseal(getattr(row, column)))
                row.save(update_fields=[column])
                count += 1
        self.stdout.write(f"re-encrypted {count} value(s)")
