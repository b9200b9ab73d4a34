"""Knowledge search latency at 100,000 facts: lexical, and hybrid when embeddings are installed.

    .venv/bin/python bench/memory_bench.py [--items 100000] [--queries 300] [--reuse NAME]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/memory_bench.py

This calls the search service (`memory.search.search_knowledge`) in-process, not over HTTP: it
measures the search itself (query parsing, full-text ranking, the vector index, fusion and
loading the rows), which is what the targets are about. HTTP and authentication overhead are
measured by bench/http_bench.py. It runs on a scratch database: a SQLite file in a temp
directory, or, when DATABASE_URL points at PostgreSQL, a new database on that server that is
dropped afterwards. With `--reuse NAME` the scratch database has a fixed name
(engine-memory-bench-NAME.sqlite3 in the temp directory, or engine_memory_bench_NAME), is kept
afterwards, and is only seeded when it does not already hold --items facts: seeding 100,000 rows
takes minutes, so this is for repeated runs while tuning. Drop it by hand when done.

Seeded facts are sentences built from a vocabulary of a few hundred words. For the hybrid run,
their vectors (in memory_knowledgevector, beside the facts) are random unit vectors (embedding
100,000 sentences on a CPU takes many minutes and the latency does not depend on what the
vectors mean); each query is embedded by the real model, every time: the query-vector cache is emptied before each timed search, since the queries repeat.
Targets: p95 <= 20 ms lexical, <= 50 ms hybrid.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import describe_ms, percentile, scratch_postgres  # noqa: E402

NOUNS = (
    "garden piano budget kitchen python football novel tax bicycle camera holiday invoice printer laptop podcast "
    "recipe insurance violin roof car apartment dentist flight hotel meeting report deadline contract salary "
    "doctor gym marathon coffee tea wine cheese bread pasta sushi train ticket passport visa museum concert "
    "guitar drum painting photo album website server database backup password router phone tablet watch "
    "jacket shoes umbrella bag wallet key door window garage boat tent mountain river beach island city "
    "village school university course exam teacher student friend sister brother mother father cousin "
    "neighbour colleague manager client invoice project sprint release bug feature test review"
).split()
VERBS = "owns wants repaired bought sold visited booked cancelled planned likes dislikes prefers avoids enjoys hates needs uses".split()
ADJECTIVES = "old new blue red noisy cheap expensive vintage electric small large heavy light fast slow quiet busy local remote".split()
PLACES = "in Lisbon|in Berlin|at home|at work|on weekends|every morning|last summer|next month|with friends|alone".split("|")


def fact_text(rng: random.Random, n: int) -> tuple[str, str]:
    noun, other = rng.choice(NOUNS), rng.choice(NOUNS)
    subject = f"{noun} {n}"
    content = f"The user {rng.choice(VERBS)} a {rng.choice(ADJECTIVES)} {noun} and a {other} {rng.choice(PLACES)}."
    return subject, content


def queries(rng: random.Random, count: int) -> list[str]:
    shapes = [
        lambda: f"{rng.choice(NOUNS)} {rng.choice(NOUNS)}",
        lambda: f"what does the user think about the {rng.choice(NOUNS)}?",
        lambda: f'"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"',
        lambda: f"{rng.choice(VERBS)} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}",
        lambda: f"{rng.choice(NOUNS)}",
    ]
    return [rng.choice(shapes)() for _ in range(count)]


def scratch_database(reuse: str | None = None) -> tuple[str, callable]:
    """A DATABASE_URL for a throwaway database, and the function that removes it (which keeps a
    reused one)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        if not reuse:
            scratch, drop_database = scratch_postgres(url)

            def drop() -> None:
                from django.db import connections

                connections.close_all()
                drop_database()

            return scratch, drop
        import psycopg

        name = f"engine_memory_bench_{reuse}"
        with psycopg.connect(url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f"CREATE DATABASE {name}")
        return urlunsplit(urlsplit(url)._replace(path=f"/{name}")), lambda: None
    if reuse:
        return f"sqlite:///{Path(tempfile.gettempdir()) / f'engine-memory-bench-{reuse}.sqlite3'}", lambda: None
    path = Path(tempfile.mkdtemp(prefix="engine-memory-bench-")) / "bench.sqlite3"
    return f"sqlite:///{path}", lambda: None


def seed(count: int, *, with_vectors: bool) -> None:
    from django.utils import timezone

    from memory.lexical import comparison_key
    from memory.models import KnowledgeItem, KnowledgeVector

    rng = random.Random(42)
    if with_vectors:  # numpy comes with the embeddings extra
        import numpy

        vectors_rng = numpy.random.default_rng(42)
    now = timezone.now()
    items, vectors = [], []
    for n in range(count):
        subject, content = fact_text(rng, n)
        item = KnowledgeItem(
            subject=subject, subject_key=comparison_key(subject), content=content,
            content_key=comparison_key(content, drop_articles=True), kind=rng.choice(["fact", "preference", "rule"]),
            confidence=round(rng.uniform(0.3, 1.0), 2), source="bench", valid_from=now, created_at=now, updated_at=now,
        )
        items.append(item)
        if with_vectors:
            vector = vectors_rng.standard_normal(384).astype(numpy.float32)
            vectors.append(KnowledgeVector(row=item, vector=(vector / numpy.linalg.norm(vector)).tobytes(), embedded_at=now))
        if len(items) == 5000 or n == count - 1:
            KnowledgeItem.objects.bulk_create(items)
            KnowledgeVector.objects.bulk_create(vectors)
            items, vectors = [], []


def measure(label: str, texts: list[str], *, limit: int = 20) -> list[float]:
    from memory.embeddings import embed_query
    from memory.search import search_knowledge

    for text in texts[:20]:
        search_knowledge(text, limit=limit)  # warm caches, the vector index and the model
    samples, hits = [], 0
    for text in texts:
        embed_query.cache_clear()
        started = time.perf_counter()
        hits += len(search_knowledge(text, limit=limit))
        samples.append(time.perf_counter() - started)
    print(f"{label:10} {describe_ms(samples)}  ({len(texts)} queries, {hits / len(texts):.1f} hits each)")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--reuse", metavar="NAME", help="keep the scratch database under this name and reuse it")
    args = parser.parse_args()
    if args.reuse and not args.reuse.isidentifier():
        parser.error("--reuse NAME: letters, digits and underscores")

    url, drop = scratch_database(args.reuse)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("ENGINE_DATA_DIR", tempfile.mkdtemp(prefix="engine-memory-bench-data-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from memory.embeddings import model_is_installed
    from memory.models import KnowledgeItem

    try:
        call_command("migrate", verbosity=0)
        with_vectors = model_is_installed()
        started = time.monotonic()
        seeded = KnowledgeItem.objects.count() == args.items and not (
            with_vectors and KnowledgeItem.objects.filter(stored_vector__isnull=True).exists()
        )
        if args.reuse and seeded:
            print(f"{connection.vendor}: reusing {args.items} facts in {url}")
        else:
            KnowledgeItem.objects.all().delete()
            seed(args.items, with_vectors=with_vectors)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE memory_knowledgeitem, memory_knowledgevector")
            print(f"{connection.vendor}: seeded {args.items} facts in {time.monotonic() - started:.0f} s")
        texts = queries(random.Random(7), args.queries)
        settings.ENGINE_EMBEDDINGS = False
        lexical = measure("lexical", texts)
        print(f"lexical p95 {percentile(lexical, 0.95) * 1000:.1f} ms (target <= 20 ms)")
        if with_vectors:
            settings.ENGINE_EMBEDDINGS = True
            hybrid = measure("hybrid", texts)
            print(f"hybrid p95 {percentile(hybrid, 0.95) * 1000:.1f} ms (target <= 50 ms)")
        else:
            print("hybrid: skipped (the embeddings extra is not installed)")
    finally:
        drop()


if __name__ == "__main__":
    main()
