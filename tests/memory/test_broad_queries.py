"""A broad query (its words in more than RANKED_ROWS rows together) is ranked in steps: rows with
two or more of its words, then rows with its rarest words. RANKED_ROWS is 2,500 in production; here
it is lowered so that a few dozen facts make a query broad."""

import pytest
from django.db import connection

from memory import lexical
from memory.lexical import comparison_key
from memory.models import KnowledgeItem
from memory.search import search_knowledge

pytestmark = pytest.mark.django_db


def fact(subject: str, content: str) -> KnowledgeItem:
    return KnowledgeItem(subject=subject, subject_key=comparison_key(subject), content=content,
                         content_key=comparison_key(content, drop_articles=True))


@pytest.fixture
def gardens_and_pianos():
    """30 facts about a garden, 20 about a piano, 3 about both."""
    facts = [fact(f"garden {n}", f"The garden needs work ({n}).") for n in range(30)]
    facts += [fact(f"piano {n}", f"The piano needs tuning ({n}).") for n in range(20)]
    both = [fact(f"both {n}", f"The piano stands in the garden shed ({n}).") for n in range(3)]
    KnowledgeItem.objects.bulk_create(facts + both)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE memory_knowledgeitem")  # PostgreSQL estimates word counts from these
    return {item.id for item in both}


@pytest.fixture
def broad_above_40_rows(monkeypatch):
    monkeypatch.setattr(lexical, "RANKED_ROWS", 40)


def contents(hits) -> list[str]:
    return [hit.item.content for hit in hits]


def test_rows_with_two_of_the_words_come_first_then_rows_with_the_rarest_word(gardens_and_pianos, broad_above_40_rows):
    hits = search_knowledge("garden piano", limit=10)
    assert {hit.item.id for hit in hits[:3]} == gardens_and_pianos
    assert [text.startswith("The piano needs tuning") for text in contents(hits[3:])] == [True] * 7


def test_a_query_that_is_not_broad_ranks_every_matching_row(gardens_and_pianos):
    hits = search_knowledge("garden piano", limit=60)
    assert len(hits) == 53 and gardens_and_pianos <= {hit.item.id for hit in hits}
    assert hits[0].item.subject.startswith(("garden", "piano"))  # BM25's order: a word in the subject counts most


def test_a_word_in_no_row_does_not_hide_the_others(gardens_and_pianos, broad_above_40_rows):
    hits = search_knowledge("harpsichord garden", limit=10)
    assert len(hits) == 10 and all("garden" in text for text in contents(hits))


def test_when_the_rarest_words_leave_room_the_next_ones_fill_it(gardens_and_pianos, broad_above_40_rows):
    hits = search_knowledge("garden piano", limit=40)
    assert {hit.item.id for hit in hits[:3]} == gardens_and_pianos
    assert len(hits) == 40 and sum("The garden needs work" in text for text in contents(hits)) == 17


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's GIN indexes only")
def test_full_text_indexes_are_updated_at_once_not_through_a_pending_list():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'memory_%%_search_gin'")
        options = dict(cursor.fetchall())
    assert options == {name: ["fastupdate=off"] for name in
                       ("memory_knowledgeitem_search_gin", "memory_episode_search_gin", "memory_person_search_gin")}
