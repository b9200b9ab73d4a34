"""GET/POST/PUT/DELETE /skills: platform skills from the catalog, custom skills with versions."""

import pytest

from skills.models import Skill, SkillVersion

pytestmark = pytest.mark.django_db

NEW_SKILL = {
    "name": "haiku-writer",
    "description": "Writes a haiku about the input.",
    "category": "writing",
    "prompt": "Write a haiku (5-7-5) about what the user says.",
    "capabilities": ["poetry"],
}


def test_the_list_holds_the_three_platform_skills(alice):
    response = alice.get("/skills")
    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()}
    assert {"summarizer", "fact-checker", "code-reviewer"} <= set(by_name)
    assert by_name["summarizer"] == {
        "name": "summarizer",
        "description": "Summarise a text in a few sentences, keeping names, numbers and decisions.",
        "source": "platform",
        "category": "writing",
        "confidence": 0.95,
    }


def test_a_platform_skill_shows_its_template_and_scripts(alice):
    response = alice.get("/skills/code-reviewer")
    assert response.status_code == 200
    skill = response.json()
    assert skill["source"] == "platform"
    assert skill["prompt_template"].startswith("You review the code")
    assert "count_lines.py" in skill["scripts"]
    assert skill["capabilities"] == ["code-review", "python", "security"]
    assert skill["version"] == 1


def test_an_unknown_skill_is_skill_not_found(alice):
    response = alice.get("/skills/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "skill_not_found"


def test_creating_a_skill_stores_it_as_custom_version_one(alice):
    response = alice.post("/skills/create", NEW_SKILL, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["source"] == "custom" and body["version"] == 1 and body["history"] == []
    assert body["prompt_template"] == NEW_SKILL["prompt"]
    stored = Skill.objects.get(name="haiku-writer")
    assert stored.capabilities == ["poetry"] and stored.category == "writing"
    listed = {item["name"]: item["source"] for item in alice.get("/skills").json()}
    assert listed["haiku-writer"] == "custom"


@pytest.mark.parametrize("name", ["A", "Upper-Case", "with_underscore", "-leading", "x" * 65, "sp ace"])
def test_a_bad_name_is_refused_and_nothing_is_stored(alice, name):
    response = alice.post("/skills/create", {**NEW_SKILL, "name": name}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "name" in response.json()["details"]
    assert not Skill.objects.exists()


def test_a_skill_needs_a_prompt_or_scripts(alice):
    response = alice.post("/skills/create", {"name": "empty-one", "description": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Skill.objects.exists()
    with_script = alice.post("/skills/create", {"name": "script-only", "scripts": {"main.py": "print(1)"}}, format="json")
    assert with_script.status_code == 201
    assert with_script.json()["scripts"] == {"main.py": "print(1)"}


def test_a_duplicate_custom_name_is_skill_exists(alice):
    assert alice.post("/skills/create", NEW_SKILL, format="json").status_code == 201
    response = alice.post("/skills/create", {**NEW_SKILL, "description": "other"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "skill_exists"
    assert Skill.objects.get().description == NEW_SKILL["description"]


def test_a_platform_name_is_skill_exists(alice):
    response = alice.post("/skills/create", {**NEW_SKILL, "name": "summarizer"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "skill_exists"
    assert not Skill.objects.exists()


def test_every_update_keeps_the_previous_version(alice):
    alice.post("/skills/create", NEW_SKILL, format="json")
    first = alice.put("/skills/haiku-writer", {"prompt": "Second prompt."}, format="json")
    assert first.status_code == 200
    second = alice.put("/skills/haiku-writer", {"description": "Third.", "name": "haiku-writer"}, format="json")
    assert second.status_code == 200
    body = second.json()
    assert body["version"] == 3 and body["versions"] == 3
    assert body["prompt_template"] == "Second prompt." and body["description"] == "Third."
    assert [entry["version"] for entry in body["history"]] == [2, 1]
    kept = {v.version: v for v in SkillVersion.objects.filter(skill__name="haiku-writer")}
    assert kept[1].prompt_template == NEW_SKILL["prompt"]
    assert kept[2].prompt_template == "Second prompt." and kept[2].description == NEW_SKILL["description"]


def test_renaming_through_put_is_refused_and_nothing_changes(alice):
    alice.post("/skills/create", NEW_SKILL, format="json")
    response = alice.put("/skills/haiku-writer", {"name": "renamed", "prompt": "changed"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "name" in response.json()["details"]
    skill = Skill.objects.get()
    assert (skill.name, skill.version, skill.prompt_template) == ("haiku-writer", 1, NEW_SKILL["prompt"])
    assert not SkillVersion.objects.exists()


def test_an_update_that_empties_the_prompt_of_a_scriptless_skill_is_refused(alice):
    alice.post("/skills/create", NEW_SKILL, format="json")
    response = alice.put("/skills/haiku-writer", {"prompt": ""}, format="json")
    assert response.status_code == 400
    assert Skill.objects.get().version == 1
    assert not SkillVersion.objects.exists()


def test_platform_skills_cannot_be_updated_or_deleted(alice):
    update = alice.put("/skills/summarizer", {"prompt": "x"}, format="json")
    delete = alice.delete("/skills/summarizer")
    for response in (update, delete):
        assert response.status_code == 403
        assert response.json()["error"] == "platform_skill_read_only"
    assert not Skill.objects.exists()
    assert alice.get("/skills/summarizer").json()["prompt_template"].startswith("You summarise")


def test_updating_or_deleting_an_unknown_skill_is_skill_not_found(alice):
    for response in (alice.put("/skills/ghost", {"prompt": "x"}, format="json"), alice.delete("/skills/ghost")):
        assert response.status_code == 404
        assert response.json()["error"] == "skill_not_found"


def test_deleting_a_custom_skill_removes_it_and_its_versions(alice):
    alice.post("/skills/create", NEW_SKILL, format="json")
    alice.put("/skills/haiku-writer", {"prompt": "v2"}, format="json")
    response = alice.delete("/skills/haiku-writer")
    assert response.status_code == 200
    assert response.json() == {"status": "deleted", "name": "haiku-writer"}
    assert not Skill.objects.exists() and not SkillVersion.objects.exists()
    assert alice.get("/skills/haiku-writer").status_code == 404


def test_skills_need_a_key(api):
    response = api.get("/skills")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_key"


def test_an_update_that_changes_nothing_adds_no_version(alice):
    alice.post("/skills/create", NEW_SKILL, format="json")
    response = alice.put("/skills/haiku-writer", {"prompt": NEW_SKILL["prompt"], "category": "writing"}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert not SkillVersion.objects.exists()
