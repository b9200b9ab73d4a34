import pytest

from engine.errors import EngineError
from memory import services
from memory.models import Episode, KnowledgeItem, Person, PersonAlias, Relationship

pytestmark = pytest.mark.django_db


def test_likes_espresso_twice_is_one_fact():
    first, happened_first = services.remember_fact(subject="coffee", content="likes espresso", confidence=0.6)
    second, happened_second = services.remember_fact(subject="Coffee", content="Likes  espresso.", confidence=0.9)
    assert (happened_first, happened_second) == ("added", "merged")
    assert second.id == first.id
    stored = KnowledgeItem.objects.get()
    assert (stored.confidence, stored.mentions, stored.valid_until) == (0.9, 2, None)


def test_a_near_identical_fact_under_another_subject_merges_too():
    first, _ = services.remember_fact(subject="coffee", content="Likes the espresso")
    second, happened = services.remember_fact(subject="drinks", content="likes espresso")
    assert (happened, second.id, KnowledgeItem.objects.count()) == ("merged", first.id, 1)


def test_drinks_cortado_then_flat_white_supersedes_and_keeps_history():
    old, _ = services.remember_fact(subject="coffee order", content="drinks cortado", kind="preference")
    new, happened = services.remember_fact(
        subject="coffee order", content="drinks flat white", kind="preference", provenance={"message_id": "msg-9"}
    )
    assert happened == "superseded"
    old.refresh_from_db()
    assert old.valid_until is not None and old.valid_until == new.valid_from
    assert old.superseded_by_id == new.id and old.content == "drinks cortado"
    assert new.valid_until is None and new.provenance == {"message_id": "msg-9"}
    current = KnowledgeItem.objects.filter(subject="coffee order", valid_until__isnull=True)
    assert list(current.values_list("content", flat=True)) == ["drinks flat white"]
    assert KnowledgeItem.objects.filter(subject="coffee order").count() == 2


def test_going_back_to_an_old_value_supersedes_again_rather_than_reviving_history():
    services.remember_fact(subject="city", content="lives in Lisbon")
    services.remember_fact(subject="city", content="lives in Berlin")
    again, happened = services.remember_fact(subject="city", content="lives in Lisbon")
    assert happened == "superseded"
    assert KnowledgeItem.objects.filter(subject="city").count() == 3
    assert KnowledgeItem.objects.get(subject="city", valid_until__isnull=True).id == again.id


def test_provenance_links_a_fact_to_its_episode():
    episode = services.record_episode(task_id="t-1", run_id="r-1", summary="Talked about coffee.", outcome="completed")
    fact, _ = services.remember_fact(subject="coffee", content="likes espresso", provenance={"episode_id": episode.id})
    assert fact.episode_id == episode.id and list(episode.knowledge.all()) == [fact]


def test_forgetting_a_fact_keeps_it_as_history():
    fact, _ = services.remember_fact(subject="pet", content="has a cat")
    forgotten = services.forget_fact(fact_id=fact.id)
    assert forgotten.valid_until is not None
    again = services.forget_fact(fact_id=fact.id)
    assert again.valid_until == forgotten.valid_until
    assert KnowledgeItem.objects.filter(id=fact.id).exists()
    _, happened = services.remember_fact(subject="pet", content="has a cat")
    assert happened == "added"


def test_forgetting_an_unknown_fact_is_not_found():
    with pytest.raises(EngineError) as raised:
        services.forget_fact(fact_id="kn-nope")
    assert raised.value.code == "not_found"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"subject": " ", "content": "x"}, "subject"),
        ({"subject": "x", "content": ""}, "content"),
        ({"subject": "x", "content": "y", "kind": "rumour"}, "kind"),
        ({"subject": "x", "content": "y", "confidence": 1.5}, "confidence"),
    ],
)
def test_a_bad_fact_is_refused_and_nothing_is_written(fields, field):
    with pytest.raises(EngineError) as raised:
        services.remember_fact(**fields)
    assert raised.value.code == "validation_error" and field in raised.value.details
    assert not KnowledgeItem.objects.exists()


def test_recording_the_same_run_twice_keeps_one_episode():
    first = services.record_episode(task_id="t-1", run_id="r-1", summary="Started the report.", outcome="errored")
    second = services.record_episode(task_id="t-1", run_id="r-1", summary="Finished the report.", outcome="completed")
    assert second.id == first.id
    stored = Episode.objects.get()
    assert (stored.summary, stored.outcome) == ("Finished the report.", "completed")


def test_an_episode_with_an_unknown_outcome_is_refused():
    with pytest.raises(EngineError) as raised:
        services.record_episode(task_id="t", run_id="r", summary="s", outcome="great")
    assert raised.value.code == "validation_error" and not Episode.objects.exists()


def test_a_person_is_resolved_by_name_or_alias_before_being_created():
    ana, created = services.resolve_person(name="Ana Souza", aliases=["Aninha"])
    assert created
    by_alias, created_again = services.resolve_person(name="aninha", aliases=["Ana S."])
    assert not created_again and by_alias.id == ana.id
    by_name, _ = services.resolve_person(name="ANA SOUZA")
    assert by_name.id == ana.id
    assert Person.objects.count() == 1
    assert sorted(PersonAlias.objects.values_list("alias", flat=True)) == ["Ana S.", "Aninha"]


def test_relationships_link_the_user_and_people_and_are_not_duplicated():
    ana, _ = services.resolve_person(name="Ana")
    rui, _ = services.resolve_person(name="Rui")
    sister = services.relate(source=None, target=ana, kind="Sister", note="Lives in Porto.")
    again = services.relate(source=None, target=ana, kind="sister")
    married = services.relate(source=ana, target=rui, kind="married to", note="Since 2019.")
    assert again.id == sister.id and again.note == "Lives in Porto." and sister.kind == "sister"
    assert Relationship.objects.count() == 2 and married.source_id == ana.id
    ana.refresh_from_db()
    assert "sister" in ana.search_text and "Rui" in ana.search_text


def test_a_person_cannot_be_related_to_themselves():
    ana, _ = services.resolve_person(name="Ana")
    with pytest.raises(EngineError) as raised:
        services.relate(source=ana, target=ana, kind="friend")
    assert raised.value.code == "validation_error" and not Relationship.objects.exists()
