"""The ground truth: how the friction a session meets sets its probability of dissatisfaction.

    logit = base + sum over touchpoints of contrib_<tp> + contrib_context
    base = BASE, plus a profile's drift in time (pipelines/simulator/profiles.py)
    p = sigmoid(logit);  y ~ Bernoulli(p) is the only noise.

A touchpoint's contribution sums, over friction kinds, `weight x log2(1 + count there)`: the
first occurrence costs exactly `weight` log-odds, later ones a little less each (saturating),
and more friction never lowers p. Every count is what the standard rule finds in the raw
events, at the touchpoint named below, so p is a function of per-session features:

    error               an `error` event, where it happens (at payment it weighs more);
                        named per touchpoint in worlds without pages (naming.py)
    slow_load           a `page_view` with load_ms > 3000, at its page
    rage_click          a burst of >= 3 clicks on one target, < 1 s apart, within 30 px
    dead_click          a click followed by no event for > 2.5 s
    long_stall          > 2 min with no event mid-session, at the page it happens on
                        (the events before and after the gap are on the same page)
    quick_back          a product page left within 3 s to return to the previous page: at product
    search_no_results   a `search` event with value 0, at search
    checkout_loop       a return from shipping to cart: half the weight at cart, half at shipping
    abandonment         reached the cart, no purchase: 1 at the exit touchpoint (cart/shipping/payment),
                        weighted by how far the customer got (ABANDONMENT_WEIGHTS)

Every kind but abandonment is friction, as the feature catalog marks its signals; abandonment
is where the journey ended, which the catalog marks exposure (`<touchpoint>__exit`), so a
counterfactual that removes a touchpoint's friction keeps it. `truth.parquet` holds both:
`contrib_<tp>` (every kind) and `friction_<tp>` (the friction kinds only).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from pipelines.simulator.segments import FloatArray, IntArray
from pipelines.simulator.vocabulary import (
    CART,
    CHANNELS,
    CUSTOMER_TYPES,
    N_TOUCHPOINTS,
    PAYMENT,
    PLATFORMS,
    SHIPPING,
    TOUCHPOINTS,
)

__all__ = [
    "ABANDONMENT_WEIGHTS",
    "BASE",
    "CONTEXT_WEIGHTS",
    "EXPOSURE_KINDS",
    "KINDS",
    "PAYMENT_ERROR_WEIGHT",
    "WEIGHTS",
    "weight_matrix",
]

KINDS: tuple[str, ...] = (
    "error",
    "slow_load",
    "rage_click",
    "dead_click",
    "long_stall",
    "quick_back",
    "search_no_results",
    "checkout_loop",
    "abandonment",
)
# The kinds that are not friction (see the module docstring).
EXPOSURE_KINDS: frozenset[str] = frozenset({"abandonment"})
# Log-odds added by the first occurrence of each kind at a touchpoint.
WEIGHTS = MappingProxyType(
    {
        "error": 0.9,
        "slow_load": 0.45,
        "rage_click": 0.8,
        "dead_click": 0.5,
        "long_stall": 0.45,
        "quick_back": 0.35,
        "search_no_results": 0.7,
        "checkout_loop": 1.0,
    }
)
PAYMENT_ERROR_WEIGHT = 1.3
# Leaving later in the checkout, after more effort, weighs more.
ABANDONMENT_WEIGHTS = MappingProxyType({"cart": 0.3, "shipping": 0.5, "payment": 0.7})
BASE = -2.75
CONTEXT_WEIGHTS = MappingProxyType(
    {
        "platform": MappingProxyType({"web": 0.0, "ios": -0.15, "android": 0.2}),
        "acquisition_channel": MappingProxyType({"organic": 0.0, "paid": 0.3, "email": -0.2, "direct": -0.1}),
        "customer_type": MappingProxyType({"new": 0.35, "returning": 0.0}),
    }
)


def weight_matrix(payment_error_weight: float = PAYMENT_ERROR_WEIGHT) -> FloatArray:
    """[kind, touchpoint] -> weight; zero where a kind cannot occur."""
    weights = np.zeros((len(KINDS), N_TOUCHPOINTS))
    for k, kind in enumerate(KINDS[:-1]):
        weights[k] = WEIGHTS[kind]
    weights[KINDS.index("error"), PAYMENT] = payment_error_weight
    loop = KINDS.index("checkout_loop")
    weights[loop] = 0.0
    weights[loop, [CART, SHIPPING]] = WEIGHTS["checkout_loop"] / 2
    for name, weight in ABANDONMENT_WEIGHTS.items():
        weights[KINDS.index("abandonment"), TOUCHPOINTS.index(name)] = weight
    return weights


def touchpoint_contributions(
    counts: npt.NDArray[Any], payment_error_weight: float = PAYMENT_ERROR_WEIGHT
) -> FloatArray:
    """(kinds x sessions x touchpoints) counts -> (sessions x touchpoints) log-odds."""
    weights = weight_matrix(payment_error_weight)
    # log2(1 + c) looked up for the small integer counts: the same values, without a log per cell.
    log2_1p = np.log2(1.0 + np.arange(int(counts.max(initial=0)) + 1))
    total = np.zeros(counts.shape[1:], dtype=np.float64)
    cells = total.reshape(-1)
    n_touchpoints = counts.shape[-1]
    # Friction is rare: add only where a kind occurred (adding 0.0 elsewhere would change nothing).
    for k in range(len(KINDS)):
        kind = counts[k].reshape(-1)
        hit = np.flatnonzero(kind)
        cells[hit] += weights[k, hit % n_touchpoints] * log2_1p[kind[hit]]
    return total


def context_contribution(platform: IntArray, channel: IntArray, customer_type: IntArray) -> FloatArray:
    def table(column: str, names: tuple[str, ...]) -> FloatArray:
        return np.array([CONTEXT_WEIGHTS[column][name] for name in names])

    return (
        table("platform", PLATFORMS)[platform]
        + table("acquisition_channel", CHANNELS)[channel]
        + table("customer_type", CUSTOMER_TYPES)[customer_type]
    )


def sigmoid(logit: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-logit))
