"""Keyword search: comparison keys for dedupe, and full-text ranking on SQLite FTS5 or PostgreSQL.

A query is split into "quoted phrases", which must all appear, and words, any of which may
appear (more matching words rank higher). Common English words are dropped from the words, as
PostgreSQL's `english` configuration does, so a question such as "what does the user prefer for
testing?" searches for `user | prefer | test`. Both databases stem (porter / english):
"running" finds "run".

Ranking costs time per matching row (BM25 or ts_rank_cd reads each one), so the rows ranked are
bounded: a word in more than COMMON_TERM_ROWS rows is dropped while a rarer word remains, and a
*broad* query (words in more than RANKED_ROWS rows together) ranks the rows that have two or
more of its words first, then the rows with its rarest words that fit in RANKED_ROWS.
"""

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from engine.db import fetch_prepared

# A word in more rows than this is dropped from a query that has rarer words (see below).
COMMON_TERM_ROWS = 5_000
# A query whose words are in more rows than this together is ranked in two steps (rank_by_text).
RANKED_ROWS = 2_500
# A broad query's first step looks for rows with two of its rarest words, at most this many.
PAIRED_WORDS = 6
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
    # Rows must have two or more of the words, not one.
    two_words: bool = False

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
    if parsed.two_words:
        # Every word appears in as many pairs as every other, so BM25's order is the one the
        # same words OR-ed would give these rows.
        parts.append("(" + " OR ".join(f"({quote(a)} AND {quote(b)})" for a, b in _pairs(parsed.words)) + ")")
    elif parsed.words:
        parts.append("(" + " OR ".join(quote(word) for word in parsed.words) + ")")
    return " AND ".join(parts)


def _pairs(words: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(a, b) for n, a in enumerate(words) for b in words[n + 1:]]


def postgres_tsquery(parsed: ParsedQuery) -> tuple[str, list]:
    phrases = [("phraseto_tsquery('english', %s)", phrase) for phrase in parsed.phrases]
    word = "plainto_tsquery('english', %s)"
    sql_parts, params = [], []
    if phrases:
        sql_parts.append(" && ".join(sql for sql, _ in phrases))
        params += [value for _, value in phrases]
    if parsed.two_words:
        pairs = _pairs(parsed.words)
        sql_parts.append("(" + " || ".join(f"({word} && {word})" for _ in pairs) + ")")
        params += [value for pair in pairs for value in pair]
    elif parsed.words:
        sql_parts.append("(" + " || ".join([word] * len(parsed.words)) + ")")
        params += list(parsed.words)
    return " && ".join(sql_parts), params


def rows_with(index: TextIndex, word: str) -> int:
    """How many rows have `word`, up to COMMON_TERM_ROWS + 1; cached per process for a while.
    SQLite counts them in the FTS5 index. PostgreSQL gives its planner's estimate, from the
    statistics ANALYZE keeps on the commonest words (a word it has none for is rare): counting
    there reads every matching row of the table, 40 to 90 ms for a word in 5,000 of 100,000 facts."""

    def count() -> int:
        if connection.vendor == "postgresql":
            sql = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {index.table} WHERE search_vector @@ plainto_tsquery('english', %s)"
            with connection.cursor() as cursor:
                cursor.execute(sql, [word])
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            return min(int(plan[0]["Plan"]["Plan Rows"]), COMMON_TERM_ROWS + 1)
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {index.fts_table} WHERE {index.fts_table} MATCH %s LIMIT %s) hits"
        with connection.cursor() as cursor:
            cursor.execute(sql, [fts5_expression(ParsedQuery(phrases=(), words=(word,))), COMMON_TERM_ROWS + 1])
            return cursor.fetchone()[0]

    return cache.get_or_set(f"memory:rows-with:{index.table}:{word}", count, TERM_COUNT_SECONDS)


def without_common_words(index: TextIndex, parsed: ParsedQuery) -> ParsedQuery:
    """Drops words found in so many rows that they barely rank (like "user" in facts about the
    user) while a rarer word or a phrase remains: ranking every row that has them is the slow part."""
    if len(parsed.words) + len(parsed.phrases) < 2:
        return parsed
    rare = tuple(word for word in parsed.words if rows_with(index, word) <= COMMON_TERM_ROWS)
    if not rare and not parsed.phrases:
        rare = parsed.words[:1]
    return ParsedQuery(phrases=parsed.phrases, words=rare)


def rank_by_text(
    index: TextIndex, parsed: ParsedQuery, *, where: list[str], params: list, limit: int, columns: Sequence[str] = ()
) -> list[tuple]:
    """The rows matching the query and the `where` conditions (over alias `m`), best first: each
    its id, then the `columns` asked for (expressions over `m`), so that a search needs no
    second statement for its rows.

    A broad query (see the module's docstring) is ranked in steps: the rows with two or more of
    its PAIRED_WORDS rarest words, all of them, best first; then, while there is room, the rows
    with its rarest words whose rows fit in RANKED_ROWS together (at least one word), best first,
    then those with the next rarest words, and so on."""
    parsed = without_common_words(index, parsed)
    if parsed.is_empty:
        return []
    ranked = functools.partial(_ranked_rows, index, where=where, params=params, columns=columns)
    if parsed.phrases or len(parsed.words) < 2:
        return ranked(parsed, limit=limit)
    by_rows = sorted(parsed.words, key=lambda word: rows_with(index, word))
    groups, rows = [[]], 0
    for word in by_rows:
        rows += rows_with(index, word)
        if groups[-1] and rows > RANKED_ROWS:
            groups.append([])
            rows = rows_with(index, word)
        groups[-1].append(word)
    if len(groups) == 1:
        return ranked(parsed, limit=limit)
    paired = ParsedQuery(phrases=(), words=tuple(by_rows[:PAIRED_WORDS]), two_words=True)
    found = ranked(paired, rank_by=parsed, limit=limit)
    for group in groups:
        if len(found) >= limit:
            break
        rarer = ParsedQuery(phrases=(), words=tuple(group))
        found += ranked(rarer, limit=limit - len(found), excluding=[row[0] for row in found])
    return found


def _ranked_rows(
    index: TextIndex,
    parsed: ParsedQuery,
    *,
    where: list[str],
    params: list,
    limit: int,
    columns: Sequence[str],
    rank_by: ParsedQuery | None = None,
    excluding: list[str] = (),
) -> list[tuple]:
    """Rows (id, then `columns`) matching `parsed`, ranked by `rank_by` (PostgreSQL; SQLite
    ranks by `parsed`)."""
    where = [*where, f"m.id NOT IN ({', '.join(['%s'] * len(excluding))})"] if excluding else where
    params = [*params, *excluding]
    conditions = "".join(f" AND {condition}" for condition in where)
    extra = "".join(f", {column}" for column in columns)
    if connection.vendor == "postgresql":
        tsquery, query_params = postgres_tsquery(parsed)
        rank_tsquery, rank_params = postgres_tsquery(rank_by or parsed)
        sql = (
            f"SELECT m.id{extra} FROM {index.table} m, (SELECT {tsquery} AS q, {rank_tsquery} AS r) query "
            f"WHERE m.search_vector @@ query.q{conditions} "
            f"ORDER BY ts_rank_cd(m.search_vector, query.r) DESC, m.id LIMIT %s"
        )
        return _fetch_rows(sql, [*query_params, *rank_params, *params, limit])
    # FTS5 ranks fastest on its own (ORDER BY rank inside the virtual table); rank a few times
    # the limit there, filter, and only rank every match when the filters left too few.
    weights = ", ".join(str(weight) for weight in index.bm25_weights)
    ranked = (
        f"SELECT rowid, rank FROM {index.fts_table} WHERE {index.fts_table} MATCH %s "
        f"AND rank MATCH 'bm25({weights})' ORDER BY rank"
    )
    matching = (
        f"SELECT m.id, hits.rank{extra} FROM hits JOIN {index.table} m ON m.fts_rowid = hits.rowid "
        f"WHERE 1 = 1{conditions} ORDER BY hits.rank, m.id LIMIT %s"
    )
    # A last row (id NULL) counts the matches ranked: when that is below the depth, every match
    # was ranked, and too few rows only means too few rows match (the common case: one statement).
    nulls = ", NULL" * len(columns)
    sql = f"WITH hits AS ({ranked} LIMIT %s) SELECT * FROM ({matching}) UNION ALL SELECT NULL, COUNT(*){nulls} FROM hits"
    expression, depth = fts5_expression(parsed), max((limit + len(excluding)) * 5, 100)
    with connection.cursor() as cursor:
        cursor.execute(sql, [expression, depth, *params, limit])
        rows = cursor.fetchall()
    ranked_matches = next(row[1] for row in rows if row[0] is None)
    found = [row for row in rows if row[0] is not None]
    if len(found) < limit and ranked_matches >= depth:
        found = _fetch_rows(f"WITH hits AS ({ranked}) {matching}", [expression, *params, limit])
    return [(row[0], *row[2:]) for row in sorted(found, key=lambda row: (row[1], row[0]))]


def _fetch_rows(sql: str, params: list) -> list[tuple]:
    if connection.vendor == "postgresql":
        return fetch_prepared(sql, params)  # planned once per connection: as long as running it
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def keep_matching(index: TextIndex, ids: list[str], *, where: list[str], params: list) -> set[str]:
    """The subset of `ids` that satisfies the `where` conditions (for vector candidates)."""
    if not ids:
        return set()
    placeholders = ", ".join(["%s"] * len(ids))
    conditions = "".join(f" AND {condition}" for condition in where)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT m.id FROM {index.table} m WHERE m.id IN ({placeholders}){conditions}", [*ids, *params])
        return {row[0] for row in cursor.fetchall()}
