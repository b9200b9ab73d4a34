import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from engine.models import ApiKey

pytestmark = pytest.mark.django_db
KEY_PATTERN = re.compile(r"^ek_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("engine_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_prints_the_key_once_and_list_never_shows_it(api):
    raw, note = run("create", "--name", "ci", "--scope", "admin")
    assert KEY_PATTERN.match(raw)
    assert "shown once" in note
    listing, _ = run("list")
    assert raw[3:11] in listing and "admin" in listing and "ci" in listing
    assert raw not in listing and raw[12:] not in listing
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=raw).status_code == 200


def test_create_if_none_makes_only_the_first_key():
    first, _ = run("create", "--name", "dev", "--scope", "admin", "--if-none")
    assert KEY_PATTERN.match(first)
    second, note = run("create", "--name", "dev", "--scope", "admin", "--if-none")
    assert second == ""
    assert "exist already" in note
    assert ApiKey.objects.count() == 1


def test_revoke_stops_the_key_at_once(api):
    raw, _ = run("create", "--name", "temp")
    run("revoke", raw[3:11])
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=raw).json()["error"] == "key_revoked"


def test_rotate_keeps_the_old_key_valid_during_the_grace_period(api):
    old, _ = run("create", "--name", "svc", "--scope", "admin")
    new, _ = run("rotate", old[3:11], "--grace-seconds", "3600")
    assert new != old and KEY_PATTERN.match(new)
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=old).status_code == 200
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=new).status_code == 200
    old_row = ApiKey.objects.get(prefix=old[3:11])
    assert old_row.replaced_by.prefix == new[3:11]
    assert timezone.now() + timedelta(minutes=59) < old_row.expires_at < timezone.now() + timedelta(minutes=61)

    ApiKey.objects.filter(pk=old_row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=old).json()["error"] == "key_expired"
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=new).status_code == 200


def test_commands_report_unknown_prefixes_clearly():
    with pytest.raises(CommandError, match="No key has the prefix deadbeef"):
        run("revoke", "deadbeef")
    with pytest.raises(CommandError, match="not an ISO 8601"):
        run("create", "--name", "x", "--expires", "tomorrow")
