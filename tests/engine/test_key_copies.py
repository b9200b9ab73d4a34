"""Each worker's copies of the keys it has read (engine.keys.KeyCopies), and the PostgreSQL
trigger that tells the workers when a key changes."""

import time

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

from engine import keys
from engine.keys import KEYS_CHANGED_CHANNEL, KeyCopies, create_key, revoke_key
from engine.models import ApiKey, KeyScope
from tests.live_server import database_url_for_server

postgres_only = pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="the key change notice is PostgreSQL's NOTIFY")


class CountingReads:
    def __init__(self, key="a key"):
        self.key = key
        self.reads = 0
        self.during_read = None

    def __call__(self, prefix):
        self.reads += 1
        if self.during_read:
            self.during_read()
        return self.key


def test_nothing_is_kept_until_the_listener_trusts_the_copies():
    copies, read = KeyCopies(), CountingReads()
    assert [copies.lookup("p", read) for _ in range(3)] == ["a key"] * 3
    assert read.reads == 3


def test_a_trusted_copy_is_served_until_a_change_is_heard():
    copies, read = KeyCopies(), CountingReads()
    copies.trust()
    for _ in range(3):
        assert copies.lookup("p", read) == "a key"
    assert read.reads == 1
    copies.forget()
    copies.lookup("p", read)
    assert read.reads == 2
    copies.distrust()
    copies.lookup("p", read)
    copies.lookup("p", read)
    assert read.reads == 4


def test_a_read_that_overlaps_a_change_is_not_kept():
    copies, read = KeyCopies(), CountingReads()
    copies.trust()
    read.during_read = copies.forget  # the revocation's notice arrives while the row is being read
    copies.lookup("p", read)
    read.during_read = None
    copies.lookup("p", read)
    assert read.reads == 2


def test_an_unknown_key_is_never_kept_and_copies_age_out(monkeypatch):
    copies, missing = KeyCopies(), CountingReads(key=None)
    copies.trust()
    copies.lookup("p", missing)
    copies.lookup("p", missing)
    assert missing.reads == 2
    read = CountingReads()
    copies.lookup("q", read)
    monkeypatch.setattr(keys, "KEY_COPY_SECONDS", 0.0)
    copies.lookup("q", read)
    assert read.reads == 2


def test_copies_are_dropped_when_the_listener_goes_quiet(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    copies, read = KeyCopies(), CountingReads()
    copies.trust()
    copies.lookup("p", read)
    clock[0] += keys.KEY_COPY_SECONDS / 2
    copies.heard()
    clock[0] += keys.KEY_COPY_SECONDS / 3
    copies.lookup("p", read)
    assert read.reads == 1  # heard within three checks: the copy stands (and is younger than KEY_COPY_SECONDS)
    clock[0] += 3 * keys.LISTENER_CHECK_SECONDS + 1
    copies.lookup("p", read)
    copies.lookup("p", read)
    assert read.reads == 3  # not heard for three checks: nothing is kept until it listens again
    copies.heard()
    copies.lookup("p", read)
    assert read.reads == 4  # heard again, but notices may have been missed: only trust() resumes


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_every_change_to_a_key_but_its_last_use_notifies_the_workers():
    key, raw = create_key(name="watched", scope=KeyScope.USER)
    with psycopg.connect(database_url_for_server(), autocommit=True) as listening:
        listening.execute(f"LISTEN {KEYS_CHANGED_CHANNEL}")

        def notices() -> int:
            return sum(1 for _ in listening.notifies(timeout=0.3, stop_after=5))

        keys.authenticate_key(raw)  # moves last_used_at on
        assert ApiKey.objects.get(pk=key.pk).last_used_at is not None
        assert notices() == 0
        revoke_key(prefix=key.prefix)
        assert notices() == 1
        ApiKey.objects.filter(pk=key.pk).update(name="watched")  # the same value: nothing changed
        assert notices() == 0
        ApiKey.objects.filter(pk=key.pk).update(name="renamed")
        assert notices() == 1
        with connection.cursor() as cursor:
            cursor.execute("UPDATE engine_apikey SET scope = 'admin' WHERE id = %s", [key.pk])
        assert notices() == 1
        ApiKey.objects.filter(pk=key.pk).delete()
        assert notices() == 1


@postgres_only
@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_the_server_serves_keys_from_its_copies_and_hears_of_every_change(engine_server):
    key, raw = create_key(name="before", scope=KeyScope.USER)

    def whoami() -> requests.Response:
        return requests.get(f"{engine_server.url}/whoami", headers={"X-Engine-Key": raw}, timeout=5)

    def first_answer_where(check) -> requests.Response:
        deadline = time.monotonic() + 2
        while True:
            response = whoami()
            if check(response) or time.monotonic() > deadline:
                return response
            time.sleep(0.02)

    assert whoami().json()["name"] == "before"
    # A change the worker does not hear of (the trigger off) is not seen: the key came from its copy.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE engine_apikey DISABLE TRIGGER engine_apikey_changed")
        try:
            ApiKey.objects.filter(pk=key.pk).update(name="unheard")
        finally:
            cursor.execute("ALTER TABLE engine_apikey ENABLE TRIGGER engine_apikey_changed")
    assert whoami().json()["name"] == "before"
    ApiKey.objects.filter(pk=key.pk).update(name="after")
    assert first_answer_where(lambda r: r.json()["name"] != "before").json()["name"] == "after"
    revoke_key(prefix=key.prefix)
    refused = first_answer_where(lambda r: r.status_code == 401)
    assert refused.status_code == 401 and refused.json()["error"] == "key_revoked"
