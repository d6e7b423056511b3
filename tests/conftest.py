"""Shared fixtures: a deterministic seed for every test that draws random numbers."""

from __future__ import annotations

import numpy as np
import pytest

# The simulated world and its model, built once per run for every folder that uses them.
from tests.worlds import world, world_model  # noqa: F401


@pytest.fixture
def seed() -> int:
    return 20261123


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
