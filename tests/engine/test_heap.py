"""A serving worker freezes what start-up made, so full collections never walk it again."""

import gc
import sys

from engine.heap import freeze_startup_heap


def test_the_startup_heap_is_frozen_with_every_view_module_loaded():
    gc.unfreeze()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000  # Django and the apps: the collector no longer scans them
        assert {"execution.views", "memory.views", "assets.views", "adminops.views"} <= set(sys.modules)
    finally:
        gc.unfreeze()
