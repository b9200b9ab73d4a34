from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from engine.errors import EngineError
from engine.keys import create_key, revoke_key, rotate_key
from engine.models import ApiKey, KeyScope


class Command(BaseCommand):
    help = "Create, list, revoke or rotate API keys. A new key is printed exactly once."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a key and print it once")
        create.add_argument("--name", required=True)
        create.add_argument("--scope", choices=KeyScope.values, default=KeyScope.USER)
        create.add_argument("--expires", help="ISO 8601 date-time after which the key stops working")
        create.add_argument("--if-none", action="store_true", help="only when no active key exists (first start)")
        actions.add_parser("list", help="list keys (prefix, name, scope, dates); never the key itself")
        revoke = actions.add_parser("revoke", help="revoke a key at once")
        revoke.add_argument("prefix")
        rotate = actions.add_parser("rotate", help="replace a key; the old one works during the grace period")
        rotate.add_argument("prefix")
        rotate.add_argument("--grace-seconds", type=int, default=None)

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except EngineError as error:
            raise CommandError(error.message) from error

    def _create(self, *, name, scope, expires, if_none, **_):
        if if_none and ApiKey.objects.filter(revoked_at__isnull=True).exists():
            self.stderr.write("API keys exist already; make another with: python manage.py engine_key create --name NAME")
            return
        expires_at = parse_datetime(expires) if expires else None
        if expires and expires_at is None:
            raise CommandError(f"--expires {expires!r} is not an ISO 8601 date-time.")
        key, raw = create_key(name=name, scope=scope, expires_at=expires_at)
        self.stderr.write(f"Created {key.scope} key {key.prefix} ({key.name}). It is shown once; keep it safe:")
        self.stdout.write(raw)

    def _list(self, **_):
        for key in ApiKey.objects.all():
            state = "revoked" if key.revoked_at else "active"
            self.stdout.write(
                f"{key.prefix}  {key.scope:5}  {state:7}  {key.name}  created={key.created_at:%Y-%m-%dT%H:%M}Z"
                f"  last_used={key.last_used_at and key.last_used_at.isoformat() or '-'}"
                f"  expires={key.expires_at and key.expires_at.isoformat() or '-'}"
            )

    def _revoke(self, *, prefix, **_):
        key = revoke_key(prefix=prefix)
        self.stdout.write(f"Revoked {key.prefix} ({key.name}).")

    def _rotate(self, *, prefix, grace_seconds, **_):
        new, raw = rotate_key(prefix=prefix, grace_seconds=grace_seconds)
        self.stderr.write(f"Rotated {prefix} → {new.prefix}. The old key works until its expiry. New key, shown once:")
        self.stdout.write(raw)
