"""Searching long-term memory: hybrid ranking over the three stores.

Keyword ranking (memory/lexical.py) always runs. With embeddings on (memory/embeddings.py) the
query is also embedded and the nearest rows are taken from the in-process vector index, on a
vector thread while the keyword SQL runs; the two rankings are fused by reciprocal-rank fusion
(score = sum of 1 / (60 + rank)), so a paraphrase with no word in common is found by meaning and
an exact keyword match still ranks first. Filters apply to both rankings, in SQL.

The callers (views, the context builder, the agent loop) pass valid input: a non-blank query and
1 <= limit <= 100. Filters are a dict (see each function); unknown keys are ignored here and
refused by the HTTP serializers.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models
from django.db.models import Prefetch

from engine.db import fetch_instances, instances_from, select_columns
from memory.embeddings import embeddings_enabled, start_nearest, vector_index
from memory.lexical import (
    EPISODE_INDEX,
    KNOWLEDGE_INDEX,
    PERSON_INDEX,
    TextIndex,
    comparison_key,
    keep_matching,
    parse_query,
    rank_by_text,
)
from memory.models import Episode, KnowledgeItem, Person, PersonAlias, Relationship

RRF_K = 60
FUSION_DEPTH = 50


@dataclass(frozen=True)
class Hit:
    item: models.Model
    score: float


class Conditions:
    """SQL conditions over the searched table (alias `m`), with their parameters."""

    def __init__(self):
        self.where: list[str] = []
        self.params: list = []

    def add(self, sql: str, *params) -> None:
        self.where.append(sql)
        self.params.extend(params)

    def add_in(self, column: str, values: list) -> None:
        self.add(f"{column} IN ({', '.join(['%s'] * len(values))})", *values)

    def add_time_range(self, column: str, since: datetime | None, until: datetime | None) -> None:
        if since is not None:
            self.add(f"{column} >= %s", connection.ops.adapt_datetimefield_value(since))
        if until is not None:
            self.add(f"{column} < %s", connection.ops.adapt_datetimefield_value(until))


def _ranked_ids(index: TextIndex, model, query: str, limit: int, conditions: Conditions) -> list[tuple[str, float]]:
    use_vectors = embeddings_enabled()
    depth = max(limit, FUSION_DEPTH) if use_vectors else limit
    if use_vectors:
        wait_for_nearest = start_nearest(vector_index(model).snapshot(), query, limit=depth * 4)
    lexical = rank_by_text(index, parse_query(query), where=conditions.where, params=conditions.params, limit=depth)
    rankings = [[row[0] for row in lexical]]
    if use_vectors:
        nearest = wait_for_nearest()
        allowed = keep_matching(index, nearest, where=conditions.where, params=conditions.params)
        rankings.append([row_id for row_id in nearest if row_id in allowed][:depth])
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, row_id in enumerate(ranking, start=1):
            scores[row_id] = scores.get(row_id, 0.0) + _fusion_score(rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]


def _ranked_hits(index: TextIndex, model, query: str, limit: int, conditions: Conditions) -> list[Hit]:
    """The best rows for `query` with their scores. Keyword ranking alone (embeddings off) reads
    the rows in its own statement; with vectors, the fused ids' rows are read after."""
    if embeddings_enabled():
        ranked = _ranked_ids(index, model, query, limit, conditions)
        return _hits(_rows_of(model, ranked), ranked)
    rows = rank_by_text(index, parse_query(query), where=conditions.where, params=conditions.params, limit=limit,
                        columns=select_columns(model, alias="m"))
    instances = instances_from(model, [row[1:] for row in rows])
    return [Hit(instance, round(_fusion_score(rank), 6)) for rank, instance in enumerate(instances, start=1)]


def _fusion_score(rank: int) -> float:
    """Reciprocal-rank fusion's share of one ranking for the row at `rank` (1 is the best)."""
    return 1.0 / (RRF_K + rank)


def _hits(rows: list[models.Model], ranked: list[tuple[str, float]]) -> list[Hit]:
    by_id = {row.pk: row for row in rows}
    return [Hit(by_id[row_id], round(score, 6)) for row_id, score in ranked if row_id in by_id]


def _rows_of(model, ranked: list[tuple[str, float]]) -> list[models.Model]:
    """The ranked rows, in one plain statement."""
    if not ranked:
        return []
    return fetch_instances(model, None, f"id IN ({', '.join(['%s'] * len(ranked))})", [row_id for row_id, _ in ranked])


def search_knowledge(query: str, limit: int = 20, filters: dict | None = None) -> list[Hit]:
    """Facts matching `query`, best first. Filters: `kind` (list), `subject`, `min_confidence`,
    `since` / `until` (on valid_from), `include_history` (default False: only current facts)."""
    filters = filters or {}
    conditions = Conditions()
    if not filters.get("include_history"):
        conditions.add("m.valid_until IS NULL")
    if filters.get("kind"):
        conditions.add_in("m.kind", list(filters["kind"]))
    if filters.get("subject"):
        conditions.add("m.subject_key = %s", comparison_key(filters["subject"]))
    if filters.get("min_confidence") is not None:
        conditions.add("m.confidence >= %s", filters["min_confidence"])
    conditions.add_time_range("m.valid_from", filters.get("since"), filters.get("until"))
    return _ranked_hits(KNOWLEDGE_INDEX, KnowledgeItem, query, limit, conditions)


def search_episodes(query: str, limit: int = 20, filters: dict | None = None) -> list[Hit]:
    """Episodes matching `query`, best first. Filters: `outcome` (list), `task_id`,
    `since` / `until` (on occurred_at)."""
    filters = filters or {}
    conditions = Conditions()
    if filters.get("outcome"):
        conditions.add_in("m.outcome", list(filters["outcome"]))
    if filters.get("task_id"):
        conditions.add("m.task_id = %s", filters["task_id"])
    conditions.add_time_range("m.occurred_at", filters.get("since"), filters.get("until"))
    return _ranked_hits(EPISODE_INDEX, Episode, query, limit, conditions)


def search_social(query: str, limit: int = 20, filters: dict | None = None) -> list[Hit]:
    """People matching `query` by name, alias, notes or relationship (kind and note), best first,
    each with its aliases and relationships prefetched. Filters: `kind` (list of relationship
    kinds the person has, in either direction), `since` / `until` (on when the person was learned)."""
    filters = filters or {}
    conditions = Conditions()
    if filters.get("kind"):
        kinds = [comparison_key(kind) for kind in filters["kind"]]
        marks = ", ".join(["%s"] * len(kinds))
        conditions.add(
            f"(m.id IN (SELECT target_id FROM memory_relationship WHERE kind IN ({marks})) OR "
            f"m.id IN (SELECT source_id FROM memory_relationship WHERE kind IN ({marks}) AND source_id IS NOT NULL))",
            *kinds, *kinds,
        )
    conditions.add_time_range("m.created_at", filters.get("since"), filters.get("until"))
    ranked = _ranked_ids(PERSON_INDEX, Person, query, limit, conditions)
    people = Person.objects.prefetch_related(
        Prefetch("aliases", queryset=PersonAlias.objects.order_by("alias")),
        Prefetch("incoming", queryset=Relationship.objects.select_related("source", "target")),
        Prefetch("outgoing", queryset=Relationship.objects.select_related("source", "target")),
    )
    return _hits(list(people.filter(pk__in=[row_id for row_id, _ in ranked])), ranked)
