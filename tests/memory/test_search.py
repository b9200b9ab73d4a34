import pytest

from memory.models import Episode, KnowledgeItem, Person

pytestmark = pytest.mark.django_db


def search(client, store, body):
    return client.post(f"/memory/{store}/search", body, format="json")


def ids(response):
    assert response.status_code == 200, response.json()
    return [hit["id"] for hit in response.json()]


def test_a_fact_is_returned_in_the_documented_shape(alice, corpus):
    response = search(alice, "knowledge", {"query": "what does the user prefer for testing?"})
    hit = response.json()[0]
    assert hit["id"] == corpus["testing"].id
    assert hit["subject"] == "testing" and hit["type"] == "rule" and hit["confidence"] == 0.92
    assert hit["source"] == "trajectory:abc" and hit["valid_until"] is None and hit["valid_from"].endswith("Z")
    assert {"content", "score"} <= set(hit)


def test_an_exact_phrase_finds_only_those_words_in_that_order(alice, corpus):
    assert ids(search(alice, "knowledge", {"query": '"flat white"'})) == [corpus["oat"].id]
    loose = ids(search(alice, "knowledge", {"query": "flat white"}))
    assert {corpus["oat"].id, corpus["shoes"].id} <= set(loose)


def test_running_finds_a_fact_that_says_run(alice, corpus):
    assert corpus["run"].id in ids(search(alice, "knowledge", {"query": "running"}))
    assert corpus["deploy"].id in ids(search(alice, "episodes", {"query": "deploying"}))


def test_the_limit_caps_the_results_and_defaults_to_20(alice, corpus):
    assert len(ids(search(alice, "knowledge", {"query": "garden piano budget", "limit": 5}))) == 5
    assert len(ids(search(alice, "knowledge", {"query": "garden piano budget"}))) == 20
    assert len(ids(search(alice, "knowledge", {"query": "user", "limit": 100}))) == 100


@pytest.mark.parametrize("store", ["knowledge", "episodes", "social"])
@pytest.mark.parametrize("limit", [0, 101, -1, "many"])
def test_a_limit_outside_1_to_100_is_refused(alice, store, limit):
    response = search(alice, store, {"query": "coffee", "limit": limit})
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "limit" in response.json()["details"]


@pytest.mark.parametrize("store", ["knowledge", "episodes", "social"])
@pytest.mark.parametrize("body", [{"query": ""}, {"query": "   "}, {}, {"query": None}, {"limit": 5}])
def test_an_empty_or_missing_query_is_refused(alice, store, body):
    response = search(alice, store, body)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "query" in response.json()["details"]


def test_an_unknown_filter_is_refused_rather_than_ignored(alice):
    response = search(alice, "knowledge", {"query": "coffee", "filters": {"kinds": ["fact"]}})
    assert response.status_code == 400
    assert "kinds" in response.json()["details"]["filters"]


def test_a_query_of_only_common_words_finds_nothing_rather_than_everything(alice, corpus):
    assert ids(search(alice, "knowledge", {"query": "what is the"})) == []


def test_knowledge_filters_by_kind_subject_and_confidence(alice, corpus):
    kinds = search(alice, "knowledge", {"query": "garden", "limit": 100, "filters": {"kind": ["preference"]}}).json()
    assert kinds and {hit["type"] for hit in kinds} == {"preference"}
    confident = search(alice, "knowledge", {"query": "garden", "limit": 100, "filters": {"min_confidence": 0.9}}).json()
    assert confident and min(hit["confidence"] for hit in confident) >= 0.9
    subject = search(alice, "knowledge", {"query": "milk", "filters": {"subject": "Coffee  order"}})
    assert ids(subject) == [corpus["oat"].id]
    assert ids(search(alice, "knowledge", {"query": "milk", "filters": {"subject": "tea"}})) == []


def test_knowledge_filters_by_time_range(alice, corpus):
    body = {"query": "garden", "limit": 100, "filters": {"since": "2026-01-02T00:00:00Z", "until": "2026-01-03T00:00:00Z"}}
    hits = search(alice, "knowledge", body).json()
    assert hits and all("2026-01-02T" <= hit["valid_from"] < "2026-01-03T" for hit in hits)
    bad = search(alice, "knowledge", {"query": "garden", "filters": {"since": "2026-01-03T00:00:00Z", "until": "2026-01-02T00:00:00Z"}})
    assert bad.status_code == 400 and "until" in bad.json()["details"]["filters"]


def test_superseded_facts_are_found_only_when_history_is_asked_for(alice, corpus):
    from memory import services

    services.remember_fact(subject="coffee order", content="Drinks an espresso, no milk.", kind="preference")
    assert corpus["oat"].id not in ids(search(alice, "knowledge", {"query": "oat milk"}))
    history = search(alice, "knowledge", {"query": "oat milk", "filters": {"include_history": True}}).json()
    old = next(hit for hit in history if hit["id"] == corpus["oat"].id)
    assert old["valid_until"] is not None and old["superseded_by"] is not None


def test_episodes_filter_by_outcome_task_and_time(alice, corpus):
    assert ids(search(alice, "episodes", {"query": "billing service"}))[:2] == [corpus["deploy"].id, corpus["deploy_failed"].id] or \
        set(ids(search(alice, "episodes", {"query": "billing service"}))[:2]) == {corpus["deploy"].id, corpus["deploy_failed"].id}
    failed = search(alice, "episodes", {"query": "billing", "filters": {"outcome": ["errored"]}}).json()
    assert [hit["id"] for hit in failed] == [corpus["deploy_failed"].id] and failed[0]["outcome"] == "errored"
    by_task = search(alice, "episodes", {"query": "garden piano budget", "limit": 100, "filters": {"task_id": "task-3"}}).json()
    assert by_task and {hit["task_id"] for hit in by_task} == {"task-3"}
    none = search(alice, "episodes", {"query": "billing", "filters": {"until": "2026-01-01T00:00:00Z"}})
    assert ids(none) == []


def test_social_search_finds_people_by_name_alias_and_relationship(alice, corpus):
    by_alias = search(alice, "social", {"query": "Aninha"}).json()
    assert by_alias[0]["id"] == corpus["ana"].id and by_alias[0]["aliases"] == ["Aninha"]
    assert by_alias[0]["relationships"][0]["kind"] == "sister" and by_alias[0]["relationships"][0]["source"] is None
    assert ids(search(alice, "social", {"query": "who is my dentist?"}))[0] == corpus["patel"].id
    assert corpus["ana"].id in ids(search(alice, "social", {"query": "Porto"}))
    club = ids(search(alice, "social", {"query": "Novak", "limit": 100}))
    assert len(club) == 15


def test_social_search_filters_by_relationship_kind(alice, corpus):
    assert ids(search(alice, "social", {"query": "Ana Patel", "filters": {"kind": ["dentist"]}})) == [corpus["patel"].id]


def test_search_needs_a_key_and_writes_nothing(api, corpus):
    counts = (KnowledgeItem.objects.count(), Episode.objects.count(), Person.objects.count())
    response = search(api, "knowledge", {"query": "coffee"})
    assert response.status_code == 401 and response.json()["error"] == "missing_key"
    assert (KnowledgeItem.objects.count(), Episode.objects.count(), Person.objects.count()) == counts


def test_matches_past_the_ranking_depth_are_found_when_filters_drop_the_best(alice):
    """Keyword ranking looks at the best matches first; when the filters leave too few of
    those, it ranks every match rather than miss the rows further down."""
    from memory.search import search_episodes
    from memory.services import record_episode

    for i in range(130):  # the first 120 say "zebra" three times: they rank above the rest
        words = "zebra zebra zebra" if i < 120 else "zebra"
        record_episode(task_id="crowded" if i < 120 else "sparse", run_id=f"run-{i}", summary=f"{words} note {i}",
                       outcome="completed")
    found = search_episodes("zebra", limit=5, filters={"task_id": "sparse"})
    assert len(found) == 5 and {hit.item.task_id for hit in found} == {"sparse"}
    assert len(search_episodes("zebra", limit=200)) == 130
    assert search_episodes("okapi", limit=5) == []


def test_a_keyword_search_reads_its_rows_in_the_ranking_statement(corpus):
    """Every turn searches facts and episodes before its first token: one statement each, once
    the words' row counts are known (they are kept for ten minutes)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from memory.search import search_episodes, search_knowledge

    search_knowledge("what does the user prefer for testing?", limit=10)
    search_episodes("billing service", limit=5)
    with CaptureQueriesContext(connection) as statements:
        facts = search_knowledge("what does the user prefer for testing?", limit=10)
        episodes = search_episodes("billing service", limit=5)
    assert len(statements) == 2, [q["sql"] for q in statements]
    assert facts[0].item == KnowledgeItem.objects.get(pk=corpus["testing"].id)
    stored = KnowledgeItem.objects.get(pk=corpus["testing"].id)
    fields = [f.attname for f in KnowledgeItem._meta.concrete_fields]
    assert [getattr(facts[0].item, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert {hit.item.pk for hit in episodes} >= {corpus["deploy"].pk, corpus["deploy_failed"].pk}
    stored = Episode.objects.get(pk=episodes[0].item.pk)
    fields = [f.attname for f in Episode._meta.concrete_fields]
    assert [getattr(episodes[0].item, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert [hit.score for hit in facts] == sorted((hit.score for hit in facts), reverse=True)
