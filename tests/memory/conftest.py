"""A realistic memory: hundreds of facts, episodes and people, generated, plus a few known ones."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from memory import services
from memory.embeddings import forget_vector_indexes
from memory.lexical import comparison_key
from memory.models import Episode, KnowledgeItem, Person

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
TOPICS = ["garden", "piano", "budget", "kitchen", "python", "football", "novel", "tax", "bicycle", "camera",
          "holiday", "invoice", "printer", "laptop", "podcast", "recipe", "insurance", "violin", "roof", "car"]
VERBS = ["owns", "mentioned", "wants", "repaired", "bought", "reads about", "asked about", "plans to sell", "borrowed", "researched"]
ADJECTIVES = ["old", "new", "blue", "noisy", "cheap", "vintage", "electric", "second-hand", "small", "heavy"]
FIRST = ["Maria", "John", "Wei", "Fatima", "Lukas", "Priya", "Tom", "Sara", "Kenji", "Olga", "Diego", "Amara", "Noah", "Lea", "Omar"]
LAST = ["Novak", "Smith", "Chen", "Haddad", "Weber", "Rao", "Brown", "Costa", "Sato", "Ivanova", "Lopez", "Okafor", "Berg"]


@pytest.fixture(autouse=True)
def _fresh_vector_indexes():
    forget_vector_indexes()
    yield
    forget_vector_indexes()


@pytest.fixture
def corpus(db):
    """400 facts, 250 episodes and 195 people, seeded deterministically, plus the needles below."""
    rng = random.Random(7)
    facts = []
    for n in range(400):
        topic, verb, adjective = rng.choice(TOPICS), rng.choice(VERBS), rng.choice(ADJECTIVES)
        subject, content = f"{topic} {n}", f"The user {verb} a {adjective} {topic} (note {n})."
        at = START + timedelta(hours=n)
        facts.append(KnowledgeItem(
            subject=subject, subject_key=comparison_key(subject), content=content,
            content_key=comparison_key(content, drop_articles=True), kind=rng.choice(["fact", "preference", "fact"]),
            confidence=round(rng.uniform(0.3, 0.99), 2), source=f"trajectory:gen-{n}", valid_from=at, created_at=at, updated_at=at,
        ))
    KnowledgeItem.objects.bulk_create(facts)
    episodes = []
    for n in range(250):
        topic, verb = rng.choice(TOPICS), rng.choice(VERBS)
        at = START + timedelta(hours=3 * n)
        episodes.append(Episode(
            task_id=f"task-{n % 40}", run_id=f"run-{n}", summary=f"Helped with the {topic}: the user {verb} one (step {n}).",
            outcome=rng.choice(["completed", "completed", "errored", "cancelled"]), occurred_at=at, created_at=at, updated_at=at,
        ))
    Episode.objects.bulk_create(episodes)
    people = [Person(name=f"{first} {last}", name_key=comparison_key(f"{first} {last}"), notes=f"Met through the {rng.choice(TOPICS)} club.")
              for first in FIRST for last in LAST]
    Person.objects.bulk_create(people)

    needles = {
        "oat": services.remember_fact(subject="coffee order", content="Prefers a flat white with oat milk.", kind="preference", confidence=0.9)[0],
        "shoes": services.remember_fact(subject="shoes", content="Wears white shoes that look flat and plain.")[0],
        "run": services.remember_fact(subject="exercise", content="Likes to run along the river before work.", confidence=0.7)[0],
        "testing": services.remember_fact(
            subject="testing", content="User prefers integration tests against a real database, not mocks.",
            kind="rule", confidence=0.92, source="trajectory:abc",
        )[0],
        "deploy": services.record_episode(task_id="ops-1", run_id="run-deploy", summary="Deployed the billing service to production.", outcome="completed"),
        "deploy_failed": services.record_episode(task_id="ops-2", run_id="run-deploy-2", summary="Deploying the billing service failed on migrations.", outcome="errored"),
    }
    ana, _ = services.resolve_person(name="Ana Souza", aliases=["Aninha"])
    patel, _ = services.resolve_person(name="Dr. Ravi Patel")
    services.relate(source=None, target=ana, kind="sister", note="Lives in Porto.")
    services.relate(source=None, target=patel, kind="dentist", note="Clinic on Main Street.")
    needles.update(ana=ana, patel=patel)
    return needles
