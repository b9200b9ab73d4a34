"""A serving worker freezes what start-up made, so full collections never walk it again."""

import gc
import sys

from engine.heap import YOUNG_COLLECTION_AFTER, freeze_startup_heap


def test_the_startup_heap_is_frozen_with_every_view_module_loaded():
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000  # Django and the apps: the collector no longer scans them
        assert {"execution.views", "memory.views", "assets.views", "adminops.views"} <= set(sys.modules)
        # A young collection every 20,000 allocations, not Python's 700: a turn makes tens of thousands.
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_AFTER >= 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
