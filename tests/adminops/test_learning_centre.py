"""The Learning Centre with the offline model: dry runs, real runs, one batch at a time, failures."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from adminops import learning
from adminops.models import Feedback, LearningBatch
from memory.models import KnowledgeItem, Person, Relationship, SoulVersion
from memory.search import search_knowledge
from memory.services import record_episode

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def activity(db):
    """A correction, a mention of a sister in an episode, and a rule for the soul."""
    record_episode(task_id="t-1", run_id="run-1", summary="User: my sister is Ana, she lives in Porto.", outcome="completed")
    return [
        Feedback.objects.create(kind="correction", text="Espresso is what I drink, never latte."),
        Feedback.objects.create(kind="correction", text="Always answer in metric units."),
        Feedback.objects.create(kind="rating", rating=5),
    ]


def trigger_and_wait(operator, **body) -> dict:
    response = operator.post("/admin/lc/trigger", body, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    learning.wait_for_local_batches(timeout=30)
    batch = operator.get(f"/admin/lc/batches/{response.json()['batch_id']}")
    assert batch.status_code == 200
    return batch.json()


def memory_snapshot() -> tuple:
    return (
        sorted(KnowledgeItem.objects.values_list("id", "valid_until")),
        sorted(Person.objects.values_list("id", flat=True)),
        Relationship.objects.count(),
        SoulVersion.objects.count(),
    )


def test_a_dry_run_produces_the_changeset_and_applies_nothing(operator, activity):
    before = memory_snapshot()
    batch = trigger_and_wait(operator, dry_run=True)
    assert batch["status"] == "completed" and batch["dry_run"] is True
    assert batch["inputs"] == {"episodes": 1, "feedback": 3, "messages": 0}
    facts = batch["changeset"]["facts"]
    assert [fact["content"] for fact in facts] == ["Espresso is what I drink, never latte.", "Always answer in metric units."]
    assert facts[0]["provenance"] == {"feedback_id": activity[0].id}
    assert batch["changeset"]["people"][0]["name"] == "Ana"
    assert batch["applied"] == {}
    assert memory_snapshot() == before


def test_a_real_run_writes_memory_with_provenance(operator, activity):
    batch = trigger_and_wait(operator, dry_run=False)
    assert batch["status"] == "completed", batch["error"]
    assert batch["applied"]["facts"] == {"added": 2, "merged": 0, "superseded": 0}
    assert batch["applied"]["people"] == {"added": 1, "found": 0} and batch["applied"]["relationships"] == 1
    hits = search_knowledge("espresso latte")
    assert [hit.item.content for hit in hits] == ["Espresso is what I drink, never latte."]
    fact = hits[0].item
    assert fact.source == f"lc:{batch['batch_id']}"
    assert fact.provenance == {"feedback_id": activity[0].id, "batch_id": batch["batch_id"]}
    ana = Person.objects.get(name="Ana")
    assert Relationship.objects.get(target=ana, source=None).kind == "sister"
    soul = SoulVersion.objects.order_by("-version").first()
    assert soul.origin == "learned" and "Always answer in metric units." in soul.patterns


def test_the_next_batch_reads_only_what_came_after_the_last_successful_one(operator, activity):
    trigger_and_wait(operator, dry_run=False)
    Feedback.objects.create(kind="correction", text="Green tea in the afternoon, please.")
    batch = trigger_and_wait(operator, dry_run=True)
    assert batch["inputs"] == {"episodes": 0, "feedback": 1, "messages": 0}
    again = trigger_and_wait(operator, dry_run=True, since=(timezone.now() - timedelta(days=1)).isoformat())
    assert again["inputs"]["feedback"] == 4


def test_a_second_trigger_while_a_batch_is_active_is_refused(operator, activity):
    first = operator.post("/admin/lc/trigger", {"dry_run": True}, format="json")
    second = operator.post("/admin/lc/trigger", {"dry_run": False}, format="json")
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["error"] == "lc_batch_running"
    assert second.json()["batch_id"] == first.json()["batch_id"]
    learning.wait_for_local_batches(timeout=30)
    assert LearningBatch.objects.count() == 1
    assert operator.post("/admin/lc/trigger", {"dry_run": True}, format="json").status_code == 202
    learning.wait_for_local_batches(timeout=30)


def test_a_claimed_batch_is_never_run_twice():
    batch = learning.queue_batch(dry_run=True, since=None)
    assert learning.run_batch(batch.id).status == "completed"
    finished_at = LearningBatch.objects.get(id=batch.id).finished_at
    assert learning.run_batch(batch.id).finished_at == finished_at


def test_an_abandoned_batch_does_not_block_the_next(operator, settings):
    stuck = learning.queue_batch(dry_run=True, since=None)
    LearningBatch.objects.filter(id=stuck.id).update(created_at=timezone.now() - timedelta(hours=2))
    settings.ENGINE_LC_MAX_SECONDS = 60
    assert operator.post("/admin/lc/trigger", {"dry_run": True}, format="json").status_code == 202
    learning.wait_for_local_batches(timeout=30)
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.error.startswith("abandoned")


@pytest.mark.parametrize("marker, reason", [("/learn-garbage", "not JSON"), ("/learn-invalid", "not valid at facts/0")])
def test_a_bad_model_answer_fails_the_batch_and_changes_nothing(operator, activity, marker, reason):
    Feedback.objects.create(kind="correction", text=f"Please learn this {marker}")
    before = memory_snapshot()
    batch = trigger_and_wait(operator, dry_run=False)
    assert batch["status"] == "failed"
    assert reason in batch["error"]
    assert batch["changeset"] is None and batch["applied"] == {}
    assert memory_snapshot() == before
    assert trigger_and_wait(operator, dry_run=True)["inputs"]["feedback"] == 4  # a failed batch is not "the last successful one"


def test_a_failure_while_applying_rolls_back_everything(operator, activity, monkeypatch):
    from memory import services

    def relate_fails(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "relate", relate_fails)
    before = memory_snapshot()
    batch = trigger_and_wait(operator, dry_run=False)
    assert batch["status"] == "failed" and "disk full" in batch["error"]
    assert memory_snapshot() == before


def test_provenance_must_name_an_input():
    material = learning.Material(episodes=[], feedback=[{"id": "fb-1"}], messages=[])
    answer = '{"facts": [{"subject": "a", "content": "b", "kind": "fact", "confidence": 0.5, "provenance": {"feedback_id": "fb-9"}}], "people": [], "soul": []}'
    with pytest.raises(learning.LearningFailed, match="fb-9"):
        learning.validate_changeset(answer, material)


def test_an_unknown_batch_is_lc_batch_not_found(operator):
    response = operator.get("/admin/lc/batches/lc-nope")
    assert response.status_code == 404
    assert response.json()["error"] == "lc_batch_not_found"


def test_lc_run_runs_a_batch_and_prints_it(activity, capsys):
    call_command("lc_run", "--dry-run")
    printed = capsys.readouterr().out
    assert '"status": "completed"' in printed and '"dry_run": true' in printed
    assert not KnowledgeItem.objects.exists()
    call_command("lc_run")
    assert KnowledgeItem.objects.count() == 2


def test_lc_run_refuses_while_a_batch_is_active(activity):
    learning.queue_batch(dry_run=True, since=None)
    with pytest.raises(CommandError, match="already queued"):
        call_command("lc_run")


def test_concurrent_triggers_queue_exactly_one_batch():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def trigger(_):
        try:
            return learning.queue_batch(dry_run=True, since=None).id
        except learning.LcBatchRunning as refused:
            return refused
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(trigger, range(6)))
    queued = [outcome for outcome in outcomes if isinstance(outcome, str)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, str)]
    assert len(queued) == 1 and len(refused) == 5
    assert {error.extra["batch_id"] for error in refused} == set(queued)
    assert LearningBatch.objects.filter(active=True).count() == 1


def test_a_worker_shutting_down_fails_its_unfinished_batch(activity, monkeypatch):
    import gevent

    monkeypatch.setattr(learning, "ask_model", lambda material: gevent.sleep(30))
    batch = learning.start_batch(dry_run=False, since=None)
    learning.drain(timeout=0.2)
    batch.refresh_from_db()
    assert (batch.status, batch.active, batch.error) == ("failed", None, "stopped: its worker shut down")
    assert not KnowledgeItem.objects.exists()
