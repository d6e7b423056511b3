"""Keep the cyclic garbage collector off the long-lived heap of a serving worker.

After the model loads, a worker holds a few hundred thousand long-lived objects (pandas,
LightGBM, MLflow, the compiled featurizer). Each full collection walks all of them: about
120 ms here, during which every in-flight request waits. `gc.freeze` moves what is alive
now out of the collector's sight, so later collections walk only what requests allocate.
"""

from __future__ import annotations

import gc

__all__ = ["settle", "unsettle"]


def settle() -> None:
    """Collect once, then freeze what survives; call after a model is loaded or swapped in.

    On a swap the previous model's objects may sit frozen: unfreezing first lets this
    collection reclaim any of them caught in reference cycles."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def unsettle() -> None:
    """Hand the frozen objects back to the collector (the app is shutting down)."""
    gc.unfreeze()
