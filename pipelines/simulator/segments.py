"""Vectorized building blocks: expand per-parent counts into child rows, positions in a group.

The simulator nests three levels (session -> step -> event). Each level is built from a
(parents x slots) count matrix: the children of a parent are its slots in order, each
repeated as often as its count. No Python loop runs per parent or per child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoolArray",
    "Expansion",
    "Float32Array",
    "FloatArray",
    "IntArray",
    "expand",
    "first_index",
    "segment_cumsum",
]

# Any integer width: the event level uses the narrowest that fits (int8 codes, int32 indices).
IntArray = npt.NDArray[np.integer[Any]]
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Expansion:
    """Child rows in parent order, then slot order: which parent and slot each comes from."""

    parent: npt.NDArray[np.int32]
    slot: npt.NDArray[np.int8]
    pos: npt.NDArray[np.int32]  # position of the child within its (parent, slot) run


def expand(counts: npt.NDArray[Any]) -> Expansion:
    """Children of a (parents x slots) matrix of non-negative counts (< 2**31 children, < 128 slots)."""
    n_slots = counts.shape[1]
    flat = counts.ravel()
    nonzero = np.flatnonzero(flat)
    sizes = flat[nonzero].astype(np.int64)
    parent = np.repeat((nonzero // n_slots).astype(np.int32), sizes)
    slot = np.repeat((nonzero % n_slots).astype(np.int8), sizes)
    run_start = (np.cumsum(sizes) - sizes).astype(np.int32)
    pos = np.arange(len(parent), dtype=np.int32) - np.repeat(run_start, sizes)
    return Expansion(parent=parent, slot=slot, pos=pos)


def first_index(group: IntArray, n_groups: int) -> IntArray:
    """Index of each group's first row in a `group` array sorted ascending (len(group) if empty)."""
    return np.searchsorted(group, np.arange(n_groups, dtype=np.int64)).astype(np.int64)


def segment_cumsum(values: IntArray, group: IntArray) -> IntArray:
    """Inclusive cumulative sum of `values` restarting at each run of a sorted `group`."""
    total = np.cumsum(values)
    before = total - values
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[first, len(group)])
    return total - np.repeat(before[first], lengths)
