"""The Django admin: custom skills with their versions, Learning Centre batches read-only, every
list searchable."""

import pytest
from django.contrib import admin
from django.urls import reverse

from adminops.models import BatchStatus, LearningBatch
from skills import services
from skills.models import Skill, SkillVersion

pytestmark = pytest.mark.django_db

BROWSED = [
    "engine.apikey", "assets.mcpserver", "assets.connection", "execution.task", "execution.run", "execution.event",
    "hitl.hitlrequest", "adminops.feedback", "adminops.learningbatch", "skills.skill",
]


def test_every_changelist_opens_and_searches(admin_client):
    registered = {f"{model._meta.app_label}.{model._meta.model_name}": model_admin for model, model_admin in admin.site._registry.items()}
    for label in BROWSED:
        assert registered[label].search_fields, f"{label} is not searchable"
    for label in registered:
        app_label, model_name = label.split(".")
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
        assert admin_client.get(url, {"q": "anything"}).status_code == 200, url


def test_a_custom_skill_shows_its_versions_and_an_admin_edit_keeps_one(admin_client):
    skill = services.create_skill(name="haiku-writer", prompt_template="Write haiku.", description="v1")
    services.update_skill(name="haiku-writer", description="v2")
    stored = Skill.objects.get(name=skill.name)
    page = admin_client.get(reverse("admin:skills_skill_change", args=[stored.pk])).content.decode()
    assert "v1" in page and "Write haiku." in page

    response = admin_client.post(reverse("admin:skills_skill_change", args=[stored.pk]), {
        "name": "haiku-writer", "description": "v3", "category": "", "prompt_template": "Write two haiku.",
        "scripts": "{}", "capabilities": "[]", "confidence": "0.8",
        "versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1", "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000", "versions-0-id": str(SkillVersion.objects.get().pk), "versions-0-skill": str(stored.pk),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    stored.refresh_from_db()
    assert (stored.version, stored.description) == (3, "v3")
    assert sorted(SkillVersion.objects.values_list("version", "description")) == [(1, "v1"), (2, "v2")]


def test_a_learning_batch_is_read_only_and_shows_its_changeset(admin_client):
    batch = LearningBatch.objects.create(
        status=BatchStatus.COMPLETED, active=None, dry_run=True,
        changeset={"facts": [{"subject": "coffee order", "content": "espresso"}], "people": [], "soul": []},
    )
    page = admin_client.get(reverse("admin:adminops_learningbatch_change", args=[batch.pk])).content.decode()
    assert "coffee order" in page
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:adminops_learningbatch_add")).status_code == 403
