"""The Django admin for operators, at /django-admin/."""

import re

import pytest
from django.urls import reverse

from engine.keys import hash_key
from engine.models import ApiKey

pytestmark = pytest.mark.django_db


def test_creating_a_key_in_the_admin_shows_it_once(admin_client, api):
    response = admin_client.post(
        reverse("admin:engine_apikey_add"), {"name": "from-admin", "scope": "admin"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    raw = re.search(r"(ek_[0-9a-f]{8}_[A-Za-z0-9_-]{43})", page).group(1)
    key = ApiKey.objects.get(name="from-admin")
    assert key.key_hash == hash_key(raw)
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=raw).status_code == 200

    change_page = admin_client.get(reverse("admin:engine_apikey_change", args=[key.pk])).content.decode()
    listing = admin_client.get(reverse("admin:engine_apikey_changelist")).content.decode()
    for page in (change_page, listing):
        assert raw not in page and key.key_hash not in page
        assert key.prefix in page


def test_operators_can_revoke_keys_from_the_list(admin_client, alice_key, api):
    key = ApiKey.objects.get(name="alice")
    admin_client.post(
        reverse("admin:engine_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    assert api.get("/admin/keys", HTTP_X_ENGINE_KEY=alice_key).json()["error"] == "key_revoked"


def test_every_admin_changelist_opens(admin_client):
    from django.contrib import admin

    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
