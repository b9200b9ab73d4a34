"""Skill and agent files in the catalog: validated one by one, a broken file never stops the rest."""

import pytest

from skills.catalog import load_catalog_files

pytestmark = pytest.mark.django_db


def test_the_shipped_catalog_loads_without_failures():
    catalog = load_catalog_files()
    assert catalog.failed == []
    assert {"summarizer", "fact-checker", "code-reviewer"} <= set(catalog.skills)
    assert catalog.agents["researcher"].tools == ("recall", "load_skill", "current_time")


def test_a_broken_skill_file_is_reported_and_the_others_load(catalog_dir, alice):
    (catalog_dir / "skills" / "no-header.md").write_text("Just a body, no front matter.\n")
    (catalog_dir / "skills" / "bad-confidence.md").write_text("---\ndescription: x\nconfidence: 7\n---\nBody\n")
    (catalog_dir / "skills" / "bad-yaml.md").write_text("---\ndescription: [unclosed\n---\nBody\n")
    (catalog_dir / "agents" / "broken.yaml").write_text("name: broken\ntools: not-a-list\nsystem_prompt: x\n")
    catalog = load_catalog_files(catalog_dir)
    reasons = {failure.path.rsplit("/", 1)[-1]: failure.reason for failure in catalog.failed}
    assert set(reasons) == {"no-header.md", "bad-confidence.md", "bad-yaml.md", "broken.yaml"}
    assert "front-matter" in reasons["no-header.md"]
    assert "confidence" in reasons["bad-confidence.md"]
    assert "tools" in reasons["broken.yaml"]
    assert set(catalog.skills) == {"summarizer", "fact-checker", "code-reviewer"}
    names = {item["name"] for item in alice.get("/skills").json()}
    assert {"summarizer", "fact-checker", "code-reviewer"} <= names and "no-header" not in names


def test_a_script_listed_in_the_header_must_exist(catalog_dir):
    (catalog_dir / "skills" / "with-script.md").write_text(
        "---\ndescription: x\nscripts: [with-script/missing.py]\n---\nBody\n"
    )
    catalog = load_catalog_files(catalog_dir)
    assert [failure.reason for failure in catalog.failed] == ["script 'with-script/missing.py' does not exist"]
    assert "with-script" not in catalog.skills


def test_two_files_with_one_name_load_the_first_and_report_the_second(catalog_dir):
    (catalog_dir / "skills" / "zz-copy.md").write_text("---\nname: summarizer\ndescription: A copy.\n---\nBody\n")
    catalog = load_catalog_files(catalog_dir)
    assert [failure.reason for failure in catalog.failed] == [
        f"'summarizer' is already defined by {catalog_dir / 'skills' / 'summarizer.md'}"
    ]
    assert catalog.skills["summarizer"].description.startswith("Summarise a text")
