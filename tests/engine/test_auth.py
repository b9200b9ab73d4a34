from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engine.keys import create_key, hash_key, revoke_key
from engine.models import ApiKey, KeyScope

pytestmark = pytest.mark.django_db


def _error_code(response) -> str:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


def test_it_refuses_a_request_without_a_key(api):
    response = api.get("/admin/keys")
    assert response.status_code == 401
    assert _error_code(response) == "missing_key"
    assert response["WWW-Authenticate"] == "X-Engine-Key"


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer {key}"},
        {"HTTP_X_API_KEY": "{key}"},
        {"HTTP_ENGINE_KEY": "{key}"},
    ],
)
def test_it_only_reads_the_key_from_its_own_header(api, admin_key, headers):
    response = api.get("/admin/keys", **{name: value.format(key=admin_key) for name, value in headers.items()})
    assert response.status_code == 401
    assert _error_code(response) == "missing_key"


@pytest.mark.parametrize("wrong", ["nonsense", "ek_00000000_notarealsecret", ""])
def test_it_refuses_a_wrong_key(api, alice_key, wrong):
    response = api.get("/admin/keys", HTTP_X_ENGINE_KEY=wrong or alice_key[:-1] + "x")
    assert response.status_code == 401
    assert _error_code(response) == "invalid_key"


def test_it_refuses_a_revoked_key(api, alice_key):
    revoke_key(prefix=alice_key[3:11])
    response = api.post("/feedback", {"kind": "rating", "rating": 4}, format="json", HTTP_X_ENGINE_KEY=alice_key)
    assert response.status_code == 401
    assert _error_code(response) == "key_revoked"


def test_it_refuses_an_expired_key(api):
    _, raw = create_key(name="old", expires_at=timezone.now() - timedelta(seconds=1))
    response = api.post("/feedback", {"kind": "rating", "rating": 4}, format="json", HTTP_X_ENGINE_KEY=raw)
    assert response.status_code == 401
    assert _error_code(response) == "key_expired"


def test_a_user_key_cannot_use_admin_endpoints(api, alice_key):
    response = api.get("/admin/keys", HTTP_X_ENGINE_KEY=alice_key)
    assert response.status_code == 403
    assert _error_code(response) == "insufficient_scope"


def test_an_admin_key_lists_keys_without_secrets(api, admin_key, alice_key):
    response = api.get("/admin/keys", HTTP_X_ENGINE_KEY=admin_key)
    assert response.status_code == 200
    assert {key["name"]: key["scope"] for key in response.json()} == {"alice": "user", "operator": "admin"}
    body = response.content.decode()
    for raw in (admin_key, alice_key):
        assert raw not in body and hash_key(raw) not in body and raw[12:] not in body


def test_only_a_hash_of_the_key_is_stored(alice_key):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM engine_apikey")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert alice_key not in stored
    assert alice_key[12:] not in stored
    assert hash_key(alice_key) in stored


def test_last_used_is_written_at_most_once_a_minute(api, admin_key):
    def updates_during_one_request():
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=admin_key).status_code == 200
        return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]

    assert len(updates_during_one_request()) == 1
    assert updates_during_one_request() == []
    first_use = ApiKey.objects.get(name="operator").last_used_at
    assert first_use is not None
    ApiKey.objects.filter(name="operator").update(last_used_at=timezone.now() - timedelta(seconds=61))
    assert len(updates_during_one_request()) == 1


def test_the_bootstrap_key_from_the_environment_is_an_admin_key(api, settings):
    settings.ENGINE_API_KEY_SHA256 = hash_key("deployment-chosen-key")
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY="deployment-chosen-key").status_code == 200
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY="deployment-chosen-kez").status_code == 401
    assert not ApiKey.objects.exists()


def test_health_needs_no_key(api):
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_scopes_are_enforced_by_the_database():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create(prefix="abcdefgh", key_hash="0" * 64, name="x", scope="root")
    assert KeyScope.values == ["user", "admin"]


def test_whoami_names_the_key_in_use(api, alice_key, django_assert_num_queries):
    api.get("/whoami", HTTP_X_ENGINE_KEY=alice_key)  # the first use of a minute also records last_used
    with django_assert_num_queries(1):
        response = api.get("/whoami", HTTP_X_ENGINE_KEY=alice_key)
    assert response.status_code == 200
    assert response.json()["name"] == "alice" and response.json()["scope"] == "user"
    assert response.json()["prefix"] == alice_key[3:11]
