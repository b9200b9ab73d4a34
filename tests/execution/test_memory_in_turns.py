"""Long-term memory in every turn: the tools, the context, and an episode per turn."""

import threading
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection

from engine.worker_cache import current_stamps
from memory.models import Episode, KnowledgeItem
from memory.services import remember_fact
from memory.soul import current_soul, learn_into_soul
from skills.models import Skill
from tests.sse import execute

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def reply(events) -> str:
    return "".join(e.data["text"] for e in events if e.event == "text_delta")


def test_a_remembered_fact_and_the_soul_are_in_the_next_turns_context(engine_server, key):
    remembered = execute(engine_server, key, {
        "message": '/tool remember {"subject": "coffee", "content": "The user likes espresso"}',
        "task_id": f"t-{uuid.uuid4().hex[:6]}", "direct": True,
    })
    assert next(e for e in remembered if e.event == "tool_result").data["output"]["outcome"] == "added"
    fact = KnowledgeItem.objects.get(subject="coffee")
    assert fact.provenance["run_id"] == remembered[0].data["run_id"]

    later = execute(engine_server, key, {"message": "/context what espresso should I buy", "task_id": f"t-{uuid.uuid4().hex[:6]}", "direct": True})
    context = reply(later)
    assert "The user likes espresso" in context
    assert current_soul().identity[:40] in context


def test_every_turn_leaves_an_episode_that_later_turns_can_recall(engine_server, key):
    task_id = f"t-{uuid.uuid4().hex[:6]}"
    first = execute(engine_server, key, {"message": "we planned the zanzibar trip", "task_id": task_id, "direct": True})
    episode = Episode.objects.get(run_id=first[0].data["run_id"])
    assert (episode.task_id, episode.outcome) == (task_id, "completed")
    assert "zanzibar" in episode.summary
    failed = execute(engine_server, key, {"message": "/fail", "task_id": task_id, "direct": True})
    assert Episode.objects.get(run_id=failed[0].data["run_id"]).outcome == "errored"
    recalled = execute(engine_server, key, {"message": '/tool recall {"query": "zanzibar trip"}', "task_id": task_id, "direct": True})
    episodes = next(e for e in recalled if e.event == "tool_result").data["output"]["episodes"]
    assert any("zanzibar" in found["summary"] for found in episodes)


def test_memory_tool_refusals_go_back_to_the_model(engine_server, key):
    events = execute(engine_server, key, {"message": '/tool forget {"fact_id": "fact-none"}', "task_id": f"t-{uuid.uuid4().hex[:6]}", "direct": True})
    result = next(e for e in events if e.event == "tool_result").data
    assert "no fact" in result["error"].lower()
    assert events[-1].data["phase"] == "completed"


def test_the_next_turn_sees_the_soul_and_skills_another_process_wrote(engine_server, key):
    # The server keeps copies of both (engine.worker_cache); this test process writes behind its back.
    task_id = f"t-{uuid.uuid4().hex[:6]}"
    Skill.objects.create(name="stamp-seed").delete()  # a flush before this test may have emptied the stamps
    before = reply(execute(engine_server, key, {"message": "/context", "task_id": task_id, "direct": True}))
    assert {"soul", "skills"} <= set(current_stamps())  # so the server does keep copies of both
    assert "Pattern: answers in haiku" not in before and "- cache-probe — " not in before

    learn_into_soul(values=[], patterns=["answers in haiku"], note="written by another process")
    Skill.objects.create(name="cache-probe", description="probes the worker cache", prompt_template="p")
    after = reply(execute(engine_server, key, {"message": "/context", "task_id": task_id, "direct": True}))
    assert "Pattern: answers in haiku" in after
    assert "- cache-probe — probes the worker cache" in after

    Skill.objects.filter(name="cache-probe").update(description="changed without signals")
    later = reply(execute(engine_server, key, {"message": "/context", "task_id": task_id, "direct": True}))
    assert "- cache-probe — changed without signals" in later


@pytest.mark.skipif(not settings.DATABASE_IS_POSTGRES, reason="on SQLite nothing waits, so the searches follow the start")
def test_a_turns_memory_searches_wait_alongside_the_statement_that_starts_it(engine_server, key):
    """PostgreSQL: the searches (execution.context.MemorySearch) are under way while the turn's
    start is still being written, not after it. Locks hold both: the test sees both waiting."""
    remember_fact(subject="tea", content="The user drinks rooibos in the evening")
    started: dict = {}
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("LOCK TABLE execution_task IN SHARE MODE")  # the start's insert waits
        cursor.execute("LOCK TABLE memory_knowledgeitem IN ACCESS EXCLUSIVE MODE")  # so does the search
        request = threading.Thread(target=lambda: started.update(events=execute(engine_server, key, {
            "message": "/context which rooibos tonight", "task_id": f"t-{uuid.uuid4().hex[:6]}", "direct": True,
        })))
        request.start()
        waiting: list[str] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            any(query.lstrip().startswith("WITH found AS") for query in waiting)
            and any("memory_knowledgeitem" in query for query in waiting)
        ):
            time.sleep(0.02)
            cursor.execute("SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database() AND pid <> pg_backend_pid()")
            waiting = [row[0] for row in cursor.fetchall()]
        cursor.execute("COMMIT")
    request.join(timeout=15)
    assert not request.is_alive()
    assert any("memory_knowledgeitem" in query for query in waiting), waiting
    assert any(query.lstrip().startswith("WITH found AS") for query in waiting), waiting
    assert "The user drinks rooibos in the evening" in reply(started["events"])
    assert started["events"][-1].data["phase"] == "completed"
