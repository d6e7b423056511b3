"""Keep the cyclic garbage collector off the long-lived heap of a serving worker.

After the model loads, a worker holds a few hundred thousand long-lived objects (pandas,
LightGBM, the compiled featurizer). Each full collection walks all of them, and every
in-flight request waits meanwhile. `gc.freeze` moves what is alive
now out of the collector's sight, so later collections walk only what requests allocate.

A request allocates hundreds of objects (parsed events, arrays), nearly all freed by reference
counting as soon as it ends. At CPython's default threshold (700 allocations) the collector
ran every couple of requests for next to nothing to find; a serving worker collects its young
objects far less often (`SERVING_THRESHOLDS`), which saves CPU on every request.
"""

from __future__ import annotations

import gc

__all__ = ["SERVING_THRESHOLDS", "freeze_heap", "thaw_heap"]

SERVING_THRESHOLDS = (20_000, 20, 20)
_thresholds_before: list[tuple[int, int, int]] = []  # what `thaw_heap` restores


def freeze_heap() -> None:
    """Collect once, then freeze what survives; call after a model is loaded or swapped in.

    On a swap the previous model's objects may sit frozen: unfreezing first lets this
    collection reclaim any of them caught in reference cycles."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    if not _thresholds_before:
        _thresholds_before.append(gc.get_threshold())
    gc.set_threshold(*SERVING_THRESHOLDS)


def thaw_heap() -> None:
    """Hand the frozen objects back to the collector, at its former pace (the app is shutting down)."""
    gc.unfreeze()
    if _thresholds_before:
        gc.set_threshold(*_thresholds_before.pop())
