import copy
import json

import pytest

from memory import services, soul
from memory.models import Episode, KnowledgeItem, Person, PersonAlias, Relationship, SoulVersion, vector_model

pytestmark = pytest.mark.django_db
MODELS = (KnowledgeItem, Episode, Person, PersonAlias, Relationship, SoulVersion)


@pytest.fixture
def memory(db):
    episode = services.record_episode(task_id="t-1", run_id="r-1", summary="Planned the trip to Porto.", outcome="completed")
    services.remember_fact(subject="coffee order", content="drinks cortado", kind="preference", provenance={"episode_id": episode.id})
    services.remember_fact(subject="coffee order", content="drinks flat white", kind="preference", confidence=0.95)
    pet, _ = services.remember_fact(subject="pet", content="has a cat named Miso")
    services.forget_fact(fact_id=pet.id)
    ana, _ = services.resolve_person(name="Ana Souza", aliases=["Aninha"])
    rui, _ = services.resolve_person(name="Rui")
    services.relate(source=None, target=ana, kind="sister", note="Lives in Porto.")
    services.relate(source=ana, target=rui, kind="married to")
    soul.current_soul()
    soul.revert_soul(1)


def snapshot() -> dict:
    return {model.__name__: sorted(map(repr, model.objects.values())) for model in MODELS}


def without_time(bundle: dict) -> dict:
    return {key: value for key, value in bundle.items() if key != "exported_at"}


def wipe():
    for model in (Relationship, PersonAlias, Person, KnowledgeItem, Episode, SoulVersion):
        model.objects.all().delete()


def test_the_export_is_one_self_describing_bundle_without_keys_or_vectors(alice, alice_key, memory):
    for model in (KnowledgeItem, Episode, Person):
        vectors = vector_model(model)
        vectors.objects.bulk_create(vectors(row=row, vector=b"\x01" * 1536) for row in model.objects.all())
    response = alice.get("/memory/export")
    assert response.status_code == 200
    bundle = response.json()
    assert (bundle["format"], bundle["version"]) == ("engine-memory-bundle", 1) and bundle["exported_at"].endswith("Z")
    assert {store: len(records) for store, records in bundle["stores"].items()} == {
        "knowledge": 3, "episodes": 1, "people": 2, "relationships": 2, "soul": 2,
    }
    text = response.content.decode()
    assert alice_key not in text and alice_key[3:11] not in text
    assert "vector" not in text and "embedd" not in text and "AQEBAQEB" not in text  # base64 of the vector bytes


def test_export_wipe_import_export_gives_the_same_bundle(alice, memory):
    before = alice.get("/memory/export").json()
    wipe()
    response = alice.post("/memory/import", before, format="json")
    assert response.status_code == 200
    assert response.json()["knowledge"] == {"added": 3, "merged": 0, "skipped": 0}
    assert response.json()["people"] == {"added": 2, "merged": 0, "skipped": 0}
    assert without_time(alice.get("/memory/export").json()) == without_time(before)
    assert alice.post("/memory/knowledge/search", {"query": "flat white"}, format="json").json()[0]["content"] == "drinks flat white"
    assert alice.post("/memory/social/search", {"query": "sister"}, format="json").json()[0]["name"] == "Ana Souza"


def test_importing_the_same_bundle_twice_changes_nothing(alice, memory):
    bundle = alice.get("/memory/export").json()
    state = snapshot()
    report = alice.post("/memory/import", bundle, format="json").json()
    assert all(counts["added"] == 0 and counts["merged"] == 0 for counts in report.values())
    assert report["knowledge"]["skipped"] == 3
    assert snapshot() == state


def test_an_import_merges_into_existing_memory_by_natural_keys(alice, memory):
    bundle = alice.get("/memory/export").json()
    wipe()
    services.resolve_person(name="aninha", aliases=["Ana Banana"])
    services.remember_fact(subject="coffee order", content="Drinks a flat white!", kind="preference", confidence=0.5)
    report = alice.post("/memory/import", bundle, format="json").json()
    assert report["people"] == {"added": 1, "merged": 1, "skipped": 0}
    assert report["knowledge"] == {"added": 2, "merged": 1, "skipped": 0}
    assert Person.objects.count() == 2
    assert KnowledgeItem.objects.get(subject="coffee order", valid_until__isnull=True).confidence == 0.95
    again = alice.post("/memory/import", bundle, format="json").json()
    assert all(counts["added"] == 0 and counts["merged"] == 0 for counts in again.values())


def corrupt(bundle: dict, how: str) -> dict:
    broken = copy.deepcopy(bundle)
    stores = broken["stores"]
    if how == "missing field":
        del stores["knowledge"][1]["content"]
    elif how == "bad date":
        stores["episodes"][0]["occurred_at"] = "yesterday"
    elif how == "bad kind":
        stores["knowledge"][0]["kind"] = "rumour"
    elif how == "unknown person":
        stores["relationships"][1]["target_id"] = "per-missing"
    elif how == "duplicate id":
        stores["people"][1]["id"] = stores["people"][0]["id"]
    elif how == "missing store":
        del stores["soul"]
    elif how == "wrong format":
        broken["format"] = "something-else"
    elif how == "not a list":
        stores["knowledge"] = {"oops": 1}
    elif how == "confidence out of range":
        stores["knowledge"][2]["confidence"] = 7
    return broken


@pytest.mark.parametrize(
    "how",
    ["missing field", "bad date", "bad kind", "unknown person", "duplicate id", "missing store", "wrong format",
     "not a list", "confidence out of range"],
)
def test_a_corrupted_bundle_is_refused_and_changes_nothing(alice, memory, how):
    bundle = alice.get("/memory/export").json()
    wipe()
    services.remember_fact(subject="tea", content="likes green tea")
    state = snapshot()
    response = alice.post("/memory/import", corrupt(bundle, how), format="json")
    assert response.status_code == 400 and response.json()["error"] == "validation_error"
    assert snapshot() == state


def test_a_truncated_bundle_is_malformed_json_and_changes_nothing(alice, memory):
    text = json.dumps(alice.get("/memory/export").json())
    wipe()
    response = alice.generic("POST", "/memory/import", text[: len(text) // 2], content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"
    assert not KnowledgeItem.objects.exists()


def test_a_bundle_from_a_newer_engine_is_refused(alice, memory):
    bundle = alice.get("/memory/export").json()
    wipe()
    bundle["version"] = 2
    bundle["stores"]["knowledge"][0]["shape"] = "from the future"
    response = alice.post("/memory/import", bundle, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_bundle_version"
    assert response.json()["details"] == {"version": 2, "supported": 1}
    assert not KnowledgeItem.objects.exists() and not SoulVersion.objects.exists()


def test_export_and_import_need_a_key(api, memory):
    assert api.get("/memory/export").status_code == 401
    assert api.post("/memory/import", {}, format="json").json()["error"] == "missing_key"
