import pytest

from engine.errors import EngineError
from memory import soul
from memory.models import SoulVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tmp_path, settings):
    settings.ENGINE_CATALOG_DIR = tmp_path
    (tmp_path / "soul.yaml").write_text("identity: A careful engineer.\nvalues: [honesty, brevity]\npatterns: [tests first]\n")
    return tmp_path


def test_the_first_read_builds_the_soul_from_the_shipped_template(alice):
    response = alice.get("/memory/soul")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"identity", "values", "patterns"}
    assert body["identity"].startswith("The user of this Engine") and len(body["values"]) == 4
    assert SoulVersion.objects.get().origin == "template"
    alice.get("/memory/soul")
    assert SoulVersion.objects.count() == 1


def test_the_full_soul_carries_metadata_and_history(alice, catalog):
    body = alice.get("/memory/soul/full").json()
    assert body["identity"] == "A careful engineer." and body["values"] == ["honesty", "brevity"]
    assert body["version"] == 1 and body["origin"] == "template" and len(body["template_digest"]) == 64
    assert [version["version"] for version in body["history"]] == [1]
    assert body["template_path"].endswith("soul.yaml")


def test_reloading_an_edited_template_adds_a_version_and_reverting_undoes_it(alice, catalog):
    alice.get("/memory/soul")
    (catalog / "soul.yaml").write_text("identity: A bold explorer.\nvalues: [curiosity]\npatterns: []\n")
    reloaded = soul.reload_soul_template()
    assert (reloaded["version"], reloaded["identity"]) == (2, "A bold explorer.")
    reverted = soul.revert_soul(1)
    assert (reverted["version"], reverted["identity"], reverted["origin"]) == (3, "A careful engineer.", "revert")
    assert alice.get("/memory/soul").json()["values"] == ["honesty", "brevity"]
    history = alice.get("/memory/soul/full").json()["history"]
    assert [(v["version"], v["identity"]) for v in history] == [
        (3, "A careful engineer."), (2, "A bold explorer."), (1, "A careful engineer."),
    ]


def test_reloading_an_unchanged_template_adds_nothing(catalog):
    soul.current_soul()
    assert soul.reload_soul_template()["version"] == 1
    assert SoulVersion.objects.count() == 1


def test_reverting_to_an_unknown_version_is_refused_and_writes_nothing(catalog):
    soul.current_soul()
    with pytest.raises(EngineError) as raised:
        soul.revert_soul(7)
    assert (raised.value.status, raised.value.code) == (404, "soul_version_not_found")
    assert SoulVersion.objects.count() == 1


@pytest.mark.parametrize("text", ["identity: ''\n", "values: [a]\n", "identity: x\nvalues: nope\n", "identity: [unclosed\n"])
def test_a_broken_template_is_a_clear_error_and_writes_nothing(alice, catalog, text):
    (catalog / "soul.yaml").write_text(text)
    response = alice.get("/memory/soul")
    assert response.status_code == 500 and response.json()["error"] == "soul_template_invalid"
    assert not SoulVersion.objects.exists()


def test_a_missing_template_is_a_clear_error(alice, settings, tmp_path):
    settings.ENGINE_CATALOG_DIR = tmp_path / "nowhere"
    assert alice.get("/memory/soul/full").json()["error"] == "soul_template_invalid"


def test_the_soul_needs_a_key(api):
    assert api.get("/memory/soul").status_code == 401
    assert not SoulVersion.objects.exists()
