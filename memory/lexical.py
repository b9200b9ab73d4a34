"""Keyword search: comparison keys for dedupe, and full-text ranking on SQLite FTS5 or PostgreSQL.

A query is split into "quoted phrases", which must all appear, and words, any of which may
appear (more matching words rank higher). Common English words are dropped from the words, as
PostgreSQL's `english` configuration does, so a question such as "what does the user prefer for
testing?" searches for `user | prefer | test`. Both databases stem (porter / english):
"running" finds "run".
"""

import re
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

# A word in more rows than this is dropped from a query that has rarer words (see below).
COMMON_TERM_ROWS = 5_000
TERM_COUNT_SECONDS = 600
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


def _matches_many(index: TextIndex, word: str) -> bool:
    """Whether `word` is in more than COMMON_TERM_ROWS rows; cached per process for a while."""

    def count() -> int:
        if connection.vendor == "postgresql":
            sql = (f"SELECT count(*) FROM (SELECT 1 FROM {index.table} "
                   "WHERE search_vector @@ plainto_tsquery('english', %s) LIMIT %s) hits")
            params = [word, COMMON_TERM_ROWS + 1]
        else:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {index.fts_table} WHERE {index.fts_table} MATCH %s LIMIT %s) hits"
            params = [fts5_expression(ParsedQuery(phrases=(), words=(word,))), COMMON_TERM_ROWS + 1]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    return cache.get_or_set(f"memory:rows-with:{index.table}:{word}", count, TERM_COUNT_SECONDS) > COMMON_TERM_ROWS


def without_common_words(index: TextIndex, parsed: ParsedQuery) -> ParsedQuery:
    """Drops words found in so many rows that they barely rank (like "user" in facts about the
    user) while a rarer word or a phrase remains: ranking every row that has them is the slow part."""
    if len(parsed.words) + len(parsed.phrases) < 2:
        return parsed
    rare = tuple(word for word in parsed.words if not _matches_many(index, word))
    if not rare and not parsed.phrases:
        rare = parsed.words[:1]
    return ParsedQuery(phrases=parsed.phrases, words=rare)


def rank_by_text(
    index: TextIndex, parsed: ParsedQuery, *, where: list[str], params: list, limit: int
) -> list[str]:
    """Ids of the rows matching the query and the `where` conditions (over alias `m`), best first."""
    parsed = without_common_words(index, parsed)
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
        return _fetch_ids(sql, [*query_params, *params, limit])
    # FTS5 ranks fastest on its own (ORDER BY rank inside the virtual table); rank a few times
    # the limit there, filter, and only rank every match when the filters left too few.
    weights = ", ".join(str(weight) for weight in index.bm25_weights)
    ranked = (
        f"SELECT rowid, rank FROM {index.fts_table} WHERE {index.fts_table} MATCH %s "
        f"AND rank MATCH 'bm25({weights})' ORDER BY rank"
    )
    sql = (
        f"SELECT m.id FROM ({ranked} LIMIT %s) hits JOIN {index.table} m ON m.fts_rowid = hits.rowid "
        f"WHERE 1 = 1{conditions} ORDER BY hits.rank, m.id LIMIT %s"
    )
    expression, depth = fts5_expression(parsed), max(limit * 5, 100)
    ids = _fetch_ids(sql, [expression, depth, *params, limit])
    if len(ids) < limit:
        ids = _fetch_ids(sql.replace(" LIMIT %s) hits", ") hits"), [expression, *params, limit])
    return ids


def _fetch_ids(sql: str, params: list) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
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
