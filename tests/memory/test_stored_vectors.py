from datetime import datetime, timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from memory import services
from memory.models import Episode, EpisodeVector, KnowledgeItem, KnowledgeVector, Person, PersonVector
from memory.search import search_knowledge

BEFORE, AFTER = ("memory", "0004_gin_without_pending_list"), ("memory", "0005_vectors_in_side_tables")
VECTOR = b"\x02" * 1536


def columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, table)}


@pytest.mark.django_db
def test_the_searched_tables_carry_no_vectors():
    for model in (KnowledgeItem, Episode, Person):
        assert not {"embedding", "embedded_at"} & columns(model._meta.db_table)


@pytest.mark.django_db
def test_a_rows_vector_lives_in_its_side_table_and_goes_when_the_row_is_deleted():
    fact, _ = services.remember_fact(subject="coffee", content="likes espresso")
    episode = services.record_episode(task_id="t-1", run_id="r-1", summary="Booked a table.", outcome="completed")
    ana, _ = services.resolve_person(name="Ana Souza")
    for row, vectors in ((fact, KnowledgeVector), (episode, EpisodeVector), (ana, PersonVector)):
        vectors.objects.create(row=row, vector=VECTOR)
        assert bytes(row.stored_vector.vector) == VECTOR
        row.delete()
        assert not vectors.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_migration_0005_moves_existing_vectors_into_the_side_tables():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        old = executor.loader.project_state([BEFORE], at_end=True).apps.get_model("memory", "KnowledgeItem")
        at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        for row_id, content, vector in (("kn_embedded", "likes espresso", VECTOR), ("kn_plain", "owns a bicycle", None)):
            old.objects.create(
                id=row_id, subject=row_id, subject_key=row_id, content=content, content_key=content,
                embedding=vector, embedded_at=at if vector else None,
            )
        MigrationExecutor(connection).migrate([AFTER])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    moved = KnowledgeVector.objects.get()
    assert (moved.row_id, bytes(moved.vector), moved.embedded_at) == ("kn_embedded", VECTOR, at)
    assert not {"embedding", "embedded_at"} & columns("memory_knowledgeitem")
    # The full-text index still follows the table (on SQLite, its triggers survived the change).
    services.remember_fact(subject="drink", content="likes cortado")
    assert [hit.item.id for hit in search_knowledge("espresso")] == ["kn_embedded"]
    assert [hit.item.content for hit in search_knowledge("cortado")] == ["likes cortado"]
