"""The garbage collector in a serving worker.

A full collection walks every object the process holds, and a Django worker with its apps, the
model SDKs and the MCP client loaded holds about a million: measured under a hundred concurrent
streaming turns, each full collection paused the whole worker (every stream in it) for up to
115 ms. What exists once the worker has started lives as long as the worker, so it is frozen out
of the collector's reach; only what requests and turns make afterwards is ever scanned.

A turn allocates tens of thousands of objects, nearly all freed by reference counting, so with
Python's default of a young collection every 700 allocations a first token paid for dozens of
them. A young collection every YOUNG_COLLECTION_AFTER allocations (and a middle one every 20
young ones, as measured; Python's default is 10) leaves at most that many unreachable cycles
waiting a little longer, and brought the first token 0.26-0.37 ms sooner, paired, on both
databases.
"""

import gc

YOUNG_COLLECTION_AFTER = 20_000


def freeze_startup_heap() -> None:
    """Call once the worker is ready to serve, after everything it loads at start-up."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # imports every view module now rather than in a first request
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, 20, 10)
