import pytest

from memory.context import Recalled, build_memory_context, estimate_tokens, recall

pytestmark = pytest.mark.django_db


def test_the_context_has_the_soul_then_relevant_facts_then_episodes(corpus):
    text = build_memory_context(message="Which coffee with oat milk should I order before the billing deploy?", token_budget=2000)
    soul_at, facts_at, episodes_at = (text.index(h) for h in ("## Who the user is", "## What you know", "## What happened before"))
    assert soul_at < facts_at < episodes_at
    assert "coffee order: Prefers a flat white with oat milk." in text
    assert "Deployed the billing service to production." in text


@pytest.mark.parametrize("budget", [0, 5, 40, 120, 400])
def test_the_context_never_exceeds_its_token_budget(corpus, budget):
    text = build_memory_context(message="coffee garden piano budget billing deploy", token_budget=budget)
    assert estimate_tokens(text) <= budget
    if budget >= 40:
        assert text.startswith("## Who the user is")
    if budget >= 400:
        assert "## What you know" in text


def test_a_message_with_nothing_to_search_gets_only_the_soul(corpus):
    text = build_memory_context(message="   ", token_budget=500)
    assert text.startswith("## Who the user is") and "## What you know" not in text


def test_searches_made_ahead_are_used_only_for_their_own_message(corpus):
    message = "Which coffee with oat milk should I order?"
    ahead = Recalled(message, knowledge=["## What you know about this", "- made ahead"], episodes=[])
    assert "- made ahead" in build_memory_context(message=message, token_budget=2000, recalled=ahead)
    assert recall(message).knowledge[1].startswith("- coffee order: Prefers a flat white")

    other = build_memory_context(message="What did we deploy?", token_budget=2000, recalled=ahead)
    assert "- made ahead" not in other and "Deployed the billing service to production." in other


def test_a_turn_searches_again_when_the_searches_made_ahead_failed(corpus):
    from django.db import DatabaseError, connection

    from execution.context import MemorySearch, remembered_for

    failed = []

    def first_search_fails(execute, sql, params, many, context):  # as a connection lost mid-search
        if not failed and "memory_knowledge" in sql:
            failed.append(sql)
            raise DatabaseError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    message = "Which coffee with oat milk should I order?"
    with connection.execute_wrapper(first_search_fails):
        context = remembered_for(message, searched=MemorySearch(message))
    assert failed  # the searches made ahead did fail
    assert "coffee order: Prefers a flat white with oat milk." in context
