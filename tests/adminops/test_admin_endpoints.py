"""POST /admin/reload-core-soul and /admin/reload-catalog, for admin-scoped keys only."""

import pytest

from assets.models import McpServer, ServerStatus
from execution.permissions import configured_rules
from memory.models import SoulVersion
from skills.models import CatalogGeneration

pytestmark = pytest.mark.django_db

ADMIN_POSTS = ["/admin/reload-core-soul", "/admin/reload-catalog", "/admin/lc/trigger"]


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_a_user_key_gets_insufficient_scope_and_nothing_happens(alice, path):
    response = alice.post(path, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert not SoulVersion.objects.exists()
    assert not CatalogGeneration.objects.exists()
    from adminops.models import LearningBatch

    assert not LearningBatch.objects.exists()


def test_reading_a_batch_needs_an_admin_key(alice):
    response = alice.get("/admin/lc/batches/lc-x")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_reloading_the_soul_returns_the_new_version(operator, catalog_dir):
    (catalog_dir / "soul.yaml").write_text("identity: A patient teacher.\nvalues: [clarity]\npatterns: [examples first]\n")
    response = operator.post("/admin/reload-core-soul")
    assert response.status_code == 200
    body = response.json()
    assert body["identity"] == "A patient teacher." and body["values"] == ["clarity"]
    assert body["version"] == 1 and body["origin"] == "template"
    assert "history" not in body
    (catalog_dir / "soul.yaml").write_text("identity: A bolder teacher.\nvalues: [clarity]\npatterns: []\n")
    assert operator.post("/admin/reload-core-soul").json()["version"] == 2
    assert SoulVersion.objects.count() == 2


def test_a_broken_soul_template_is_reported_and_the_soul_is_kept(operator, catalog_dir):
    (catalog_dir / "soul.yaml").write_text("values: [no identity]\n")
    response = operator.post("/admin/reload-core-soul")
    assert response.status_code == 500
    assert response.json()["error"] == "soul_template_invalid"
    assert not SoulVersion.objects.exists()


def test_reloading_the_catalog_reports_what_changed_and_what_failed(operator, catalog_dir):
    assert operator.get("/skills/summarizer").status_code == 200  # this worker has loaded the catalog
    (catalog_dir / "skills" / "summarizer.md").write_text(
        "---\ndescription: Shorter summaries.\ncategory: writing\n---\nSummarise in one sentence.\n"
    )
    (catalog_dir / "skills" / "fact-checker.md").unlink()
    (catalog_dir / "skills" / "translator.md").write_text("---\ndescription: Translate.\n---\nTranslate to English.\n")
    (catalog_dir / "skills" / "broken.md").write_text("no front matter\n")
    (catalog_dir / "agents" / "writer.yaml").write_text("description: Writes.\nsystem_prompt: Write well.\ntools: [write_file]\n")
    (catalog_dir / "permissions.yaml").write_text("rules:\n  - {tool: bash, pattern: 'rm *', decision: deny}\n")
    (catalog_dir / "mcp_servers" / "local.yaml").write_text("transport: stdio\ncommand: [python, -m, my_server]\n")
    (catalog_dir / "mcp_servers" / "bad.yaml").write_text("transport: carrier-pigeon\n")

    response = operator.post("/admin/reload-catalog")
    assert response.status_code == 200
    body = response.json()
    assert body["changed"]["skills"] == {"added": ["translator"], "removed": ["fact-checker"], "updated": ["summarizer"]}
    assert body["changed"]["agents"] == {"added": ["writer"], "removed": [], "updated": []}
    assert body["changed"]["permission_rules"]["added"] == [f"deny bash 'rm *' ({catalog_dir / 'permissions.yaml'})"]
    assert body["changed"]["mcp_servers"]["added"] == ["local"]
    failed = {item["path"]: item["reason"] for item in body["failed"]}
    assert set(failed) == {str(catalog_dir / "skills" / "broken.md"), str(catalog_dir / "mcp_servers" / "bad.yaml")}
    assert body["generation"] == 1 and CatalogGeneration.objects.get().generation == 1

    assert operator.get("/skills/summarizer").json()["prompt_template"] == "Summarise in one sentence."
    assert operator.get("/skills/fact-checker").status_code == 404
    assert [rule.decision for rule in configured_rules() if rule.tool == "bash"] == ["deny"]
    assert McpServer.objects.get(name="local").status == ServerStatus.AVAILABLE


def test_a_broken_permissions_file_is_reported(operator, catalog_dir):
    (catalog_dir / "permissions.yaml").write_text("rules:\n  - {tool: bash}\n")
    body = operator.post("/admin/reload-catalog").json()
    assert body["failed"] == [{"path": str(catalog_dir / "permissions.yaml"), "reason": "rule 0 needs a `tool` and a `decision` among allow, deny, ask"}]


def test_a_stale_worker_copy_is_reloaded_when_the_generation_moves(alice, catalog_dir):
    assert alice.get("/skills/translator").status_code == 404
    (catalog_dir / "skills" / "translator.md").write_text("---\ndescription: Translate.\n---\nTranslate.\n")
    assert alice.get("/skills/translator").status_code == 404  # files are read once per worker...
    CatalogGeneration.objects.create(id=1, generation=7)  # ...until another worker's reload bumps this
    assert alice.get("/skills/translator").status_code == 200


def test_the_control_message_drops_this_workers_copy(catalog_dir, alice):
    from adminops.catalog_reload import on_control_message

    assert alice.get("/skills/translator").status_code == 404
    (catalog_dir / "skills" / "translator.md").write_text("---\ndescription: Translate.\n---\nTranslate.\n")
    on_control_message("cancel:run-1")
    assert alice.get("/skills/translator").status_code == 404
    on_control_message("reload-catalog")
    assert alice.get("/skills/translator").status_code == 200


def test_a_platform_skill_added_over_a_custom_one_hides_it_and_is_reported(operator, catalog_dir):
    assert operator.post("/skills/create", {"name": "translator", "prompt": "Custom."}, format="json").status_code == 201
    (catalog_dir / "skills" / "translator.md").write_text("---\ndescription: Translate.\n---\nPlatform.\n")
    body = operator.post("/admin/reload-catalog").json()
    assert body["failed"][0]["path"] == str(catalog_dir / "skills" / "translator.md")
    assert "custom skill is also called 'translator'" in body["failed"][0]["reason"]
    listed = [item for item in operator.get("/skills").json() if item["name"] == "translator"]
    assert [item["source"] for item in listed] == ["platform"]
    assert operator.get("/skills/translator").json()["prompt_template"] == "Platform."
