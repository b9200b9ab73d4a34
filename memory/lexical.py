"""Keyword search: comparison keys for dedupe, and full-text ranking on SQLite FTS5 or PostgreSQL.

A query is split into "quoted phrases", which must all appear, and words, any of which may
appear (more matching words rank higher). Common English words are dropped from the words, as
PostgreSQL's `english` configuration does, so a question such as "what does the user prefer for
testing?" searches for `user | prefer | test`. Both databases stem (porter / english):
"running" finds "run".
"""

import re
from dataclasses import dataclass

from django.db import connection

WORD = re.compile(r"\w+", re.UNICODE)
PHRASE = re.compile(r'"([^"]*)"')
ARTICLES = {"a", "an", "the"}
STOPWORDS = ARTICLES | set(
    "i me my we our you your he him his she her it its they them their what which who whom this that these "
    "those am is are was were be been being have has had do does did doing and but if or because as until while "
    "of at by for with about against between into through during before after above below to from up down in "
    "out on off over under again further then once here there when where why how all any both each few more "
    "most other some such no nor not only own same so than too very s t can will just don should now".split()
)


def comparison_key(text: str, *, drop_articles: bool = False) -> str:
    """Case, punctuation and spacing do not count: "Likes espresso." == "likes  Espresso"."""
    words = WORD.findall(text.lower())
    if drop_articles:
        words = [word for word in words if word not in ARTICLES]
    return " ".join(words)[:500]


@dataclass(frozen=True)
class ParsedQuery:
    phrases: tuple[str, ...]
    words: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not self.phrases and not self.words


def parse_query(query: str) -> ParsedQuery:
    phrases = tuple(p for p in (" ".join(WORD.findall(m)) for m in PHRASE.findall(query)) if p)
    rest = PHRASE.sub(" ", query)
    words, seen = [], set()
    for word in WORD.findall(rest.lower()):
        if word not in STOPWORDS and word not in seen:
            seen.add(word)
            words.append(word)
    return ParsedQuery(phrases=phrases, words=tuple(words[:32]))


@dataclass(frozen=True)
class TextIndex:
    table: str
    fts_table: str
    bm25_weights: tuple[float, ...]


KNOWLEDGE_INDEX = TextIndex("memory_knowledgeitem", "memory_knowledge_fts", (2.0, 1.0))
EPISODE_INDEX = TextIndex("memory_episode", "memory_episode_fts", (1.0, 0.2))
PERSON_INDEX = TextIndex("memory_person", "memory_person_fts", (2.0, 1.0))


def fts5_expression(parsed: ParsedQuery) -> str:
    quote = lambda text: '"' + text.replace('"', '""') + '"'  # noqa: E731
    parts = [quote(phrase) for phrase in parsed.phrases]
    if parsed.words:
        parts.append("(" + " OR ".join(quote(word) for word in parsed.words) + ")")
    return " AND ".join(parts)


def postgres_tsquery(parsed: ParsedQuery) -> tuple[str, list]:
    phrases = [("phraseto_tsquery('english', %s)", phrase) for phrase in parsed.phrases]
    words = [("plainto_tsquery('english', %s)", word) for word in parsed.words]
    sql_parts, params = [], []
    if phrases:
        sql_parts.append(" && ".join(sql for sql, _ in phrases))
        params += [value for _, value in phrases]
    if words:
        sql_parts.append("(" + " || ".join(sql for sql, _ in words) + ")")
        params += [value for _, value in words]
    return " && ".join(sql_parts), params


def rank_by_text(
    index: TextIndex, parsed: ParsedQuery, *, where: list[str], params: list, limit: int
) -> list[str]:
    """Ids of the rows matching the query and the `where` conditions (over alias `m`), best first."""
    if parsed.is_empty:
        return []
    conditions = "".join(f" AND {condition}" for condition in where)
    if connection.vendor == "postgresql":
        tsquery, query_params = postgres_tsquery(parsed)
        sql = (
            f"SELECT m.id FROM {index.table} m, (SELECT {tsquery} AS q) query "
            f"WHERE m.search_vector @@ query.q{conditions} "
            f"ORDER BY ts_rank_cd(m.search_vector, query.q) DESC, m.id LIMIT %s"
        )
        all_params = [*query_params, *params, limit]
    else:
        weights = ", ".join(str(weight) for weight in index.bm25_weights)
        sql = (
            f"SELECT m.id FROM {index.fts_table} JOIN {index.table} m ON m.fts_rowid = {index.fts_table}.rowid "
            f"WHERE {index.fts_table} MATCH %s{conditions} "
            f"ORDER BY bm25({index.fts_table}, {weights}), m.id LIMIT %s"
        )
        all_params = [fts5_expression(parsed), *params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        return [row[0] for row in cursor.fetchall()]


def keep_matching(index: TextIndex, ids: list[str], *, where: list[str], params: list) -> set[str]:
    """The subset of `ids` that satisfies the `where` conditions (for vector candidates)."""
    if not ids:
        return set()
    placeholders = ", ".join(["%s"] * len(ids))
    conditions = "".join(f" AND {condition}" for condition in where)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT m.id FROM {index.table} m WHERE m.id IN ({placeholders}){conditions}", [*ids, *params])
        return {row[0] for row in cursor.fetchall()}
