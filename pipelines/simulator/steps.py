"""Page visits (steps) of each session, and the friction injected into each visit.

A session is a fixed sequence of slots, each repeated a drawn number of times:
home, account (0/1), help (0/1), browse rounds (listing page, product page) x r,
checkout (cart, or cart/shipping alternating 1 + loops times), payment, confirmation.
`friction_counts` then counts each friction kind per session and touchpoint, where
truth.py attributes it. With `core_columns`, friction that only page, target, x, y, load_ms
or value would show (slow loads, click bursts, dead clicks, empty searches) never happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipelines.simulator.segments import (
    BoolArray,
    Float32Array,
    FloatArray,
    IntArray,
    expand,
    segment_cumsum,
)
from pipelines.simulator.sessions import Sessions
from pipelines.simulator.vocabulary import (
    ACCOUNT,
    CART,
    CATALOG,
    CATEGORIES,
    CONFIRMATION,
    HELP,
    HOME,
    N_NORMAL_TARGETS,
    N_PRODUCTS,
    N_TOUCHPOINTS,
    P_ACCOUNT,
    P_CART,
    P_CATEGORY0,
    P_CONFIRMATION,
    P_HELP_FAQ,
    P_HOME,
    P_PAYMENT,
    P_PRODUCT0,
    P_SHIPPING,
    P_TERM0,
    P_TYPO0,
    PAYMENT,
    PRODUCT,
    SEARCH,
    SEARCH_TERMS,
    SHIPPING,
    TYPO_TERMS,
)

__all__ = ["Steps", "draw_steps", "dwell", "friction_counts", "normal_load"]


# Per-step chances of each friction kind by touchpoint (index order of TOUCHPOINTS;
# `other` is never visited). Payment and shipping are where checkouts break.
_RATES: dict[str, tuple[float, ...]] = {
    #             home  search catalog product cart  ship  pay   conf  acct  help  other
    "slow_load": (0.02, 0.04, 0.012, 0.05, 0.04, 0.05, 0.06, 0.04, 0.15, 0.08, 0.0),
    "rage_click": (0.005, 0.02, 0.008, 0.04, 0.03, 0.04, 0.06, 0.01, 0.06, 0.05, 0.0),
    "dead_click": (0.02, 0.02, 0.015, 0.05, 0.03, 0.03, 0.03, 0.02, 0.08, 0.08, 0.0),
    "long_stall": (0.005, 0.01, 0.01, 0.02, 0.02, 0.03, 0.05, 0.0, 0.01, 0.04, 0.0),
    "double_click": (0.05,) * 10 + (0.0,),
    "slow_triple_click": (0.04,) * 10 + (0.0,),
}
# Seen only through an optional column, or through click events, which core-column logs lack.
_NEEDS_OPTIONAL_COLUMNS = ("slow_load", "rage_click", "dead_click", "double_click", "slow_triple_click")
_CORE_RATES = {**_RATES, **{kind: (0.0,) * len(_RATES[kind]) for kind in _NEEDS_OPTIONAL_COLUMNS}}
_CLICKS_MEAN = (1.5, 1.6, 1.8, 1.9, 1.5, 2.1, 2.1, 1.0, 1.5, 1.3, 0.0)
_SLOW_LOAD_BY_PLATFORM = (1.0, 0.8, 1.5)
QUICK_BACK_RATE = 0.05  # per listing step: a product opened and closed at once
NO_RESULTS_RATE = 0.2  # per search
SERVER_ERROR_RATE = 0.003  # per step, anywhere
MAX_STALLS = 2


@dataclass(frozen=True)
class Steps:
    """One row per page visit, in session order, then visit order."""

    session: IntArray
    touchpoint: IntArray
    page: IntArray
    last: BoolArray
    load_ms: Float32Array
    slow_load: BoolArray
    dwell_s: Float32Array  # reading time after the page loads (the stall comes on top)
    stall_s: Float32Array
    quick_back: BoolArray  # listing steps: opens quick_page (a product) and returns within seconds
    quick_page: IntArray
    clicks: IntArray
    click_offset: IntArray
    lookalike: IntArray  # 0, 2 (a double click) or 3 (a slow triple click)
    rage: IntArray  # 0, or the size of a rage-click burst (3 or 4)
    dead: BoolArray
    add_to_cart: BoolArray
    errors: IntArray  # submit/error pairs at shipping or payment
    incident_errors: IntArray  # how many of those are the outage's
    final_submit: BoolArray
    server_error: BoolArray
    purchase: BoolArray
    results: Float32Array  # search steps: number of results (0 = none), else NaN

    @property
    def n(self) -> int:
        return len(self.session)


def _layout(s: Sessions) -> IntArray:
    """(sessions x slots) visit counts: home, account, help, browse, checkout, payment, confirmation."""
    checkout = np.where(s.depth == 2, 1, np.where(s.depth >= 3, 2 + 2 * s.loops, 0))
    return np.stack(
        [
            np.ones(s.n, np.int64),
            s.account,
            s.help,
            2 * s.rounds,
            checkout,
            (s.depth >= 4).astype(np.int64),
            (s.depth == 5).astype(np.int64),
        ],
        axis=1,
    )


def _chance(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    # float32 uniforms: half the memory and time of float64, ample for a yes/no draw.
    return rng.random(n, dtype=np.float32)


def _bernoulli(rng: np.random.Generator, rates: tuple[float, ...], touchpoint: IntArray) -> BoolArray:
    return _chance(rng, len(touchpoint)) < np.asarray(rates, dtype=np.float32)[touchpoint]


def draw_steps(rng: np.random.Generator, s: Sessions, core_columns: bool = False) -> Steps:
    """The visits of sessions `s`; the draws are the same with or without `core_columns`."""
    rates = _CORE_RATES if core_columns else _RATES
    layout = _layout(s)
    grid = expand(layout)
    session, slot, pos = grid.parent, grid.slot, grid.pos
    n = len(session)
    last = np.r_[session[1:] != session[:-1], True]

    # Touchpoint and page of each visit.
    listing = (slot == 3) & (pos % 2 == 0)
    is_search = listing & (_chance(rng, n) < 0.35)
    no_results = is_search & (_chance(rng, n) < (0.0 if core_columns else NO_RESULTS_RATE))
    touchpoint = np.select(
        [
            slot == 0,
            slot == 1,
            slot == 2,
            is_search,
            listing,
            slot == 3,
            (slot == 4) & (pos % 2 == 0),
            slot == 4,
        ],
        [HOME, ACCOUNT, HELP, SEARCH, CATALOG, PRODUCT, CART, SHIPPING],
        default=np.select([slot == 5, slot == 6], [PAYMENT, CONFIRMATION], default=HOME),
    ).astype(np.int8)
    # Listings often go back to the session's favourite category or query: normal back and forth.
    favourite = _chance(rng, n) < 0.6
    category = np.where(favourite, s.category[session], rng.integers(0, len(CATEGORIES), n, dtype=np.int32))
    term = np.where(favourite, s.term[session], rng.integers(0, len(SEARCH_TERMS), n, dtype=np.int32))
    typo = rng.integers(0, len(TYPO_TERMS), n, dtype=np.int32)
    product = P_PRODUCT0 + rng.integers(0, N_PRODUCTS, n, dtype=np.int32)
    fixed = np.array(
        [P_HOME, 0, 0, 0, P_CART, P_SHIPPING, P_PAYMENT, P_CONFIRMATION, P_ACCOUNT, P_HELP_FAQ, 0]
    )
    second_page = rng.integers(0, 2, n, dtype=np.int32) * np.isin(touchpoint, [ACCOUNT, HELP])
    page = np.select(
        [no_results, is_search, touchpoint == CATALOG, touchpoint == PRODUCT],
        [P_TYPO0 + typo, P_TERM0 + term, P_CATEGORY0 + category, product],
        default=fixed[touchpoint] + second_page,
    ).astype(np.int32)
    results = np.full(n, np.nan, np.float32)
    results[is_search] = np.where(
        no_results[is_search], 0.0, 1.0 + np.floor(rng.lognormal(3.5, 1.0, is_search.sum()))
    )

    # Page loads and reading time: normal loads stay under 2.5 s, slow ones are 4-12 s.
    platform = s.platform[session]
    slow_rate = np.asarray(rates["slow_load"])[touchpoint] * np.asarray(_SLOW_LOAD_BY_PLATFORM)[platform]
    slow_load = _chance(rng, n) < slow_rate
    load_ms = normal_load(rng, n)
    load_ms[slow_load] = rng.uniform(4000.0, 12000.0, int(slow_load.sum()))

    # Clicks and click friction: never on a session's last page, so no click ends a session.
    free = ~last
    stall = free & _bernoulli(rng, rates["long_stall"], touchpoint)
    stall &= _running_count(stall, session) <= MAX_STALLS
    clicks = np.where(free, _capped_poisson(rng, touchpoint), 0)
    clicks = np.where(stall, np.maximum(clicks, 1), clicks)  # a stall ends with a click on the same page
    double = free & _bernoulli(rng, rates["double_click"], touchpoint)
    triple = free & ~double & _bernoulli(rng, rates["slow_triple_click"], touchpoint)
    rage = (free & _bernoulli(rng, rates["rage_click"], touchpoint)) * (3 + (_chance(rng, n) < 0.5))
    dead = free & _bernoulli(rng, rates["dead_click"], touchpoint)

    # Checkout: errors and the submit that passes happen on the last shipping visit and at payment.
    last_shipping = (slot == 4) & (pos == layout[session, 4] - 1) & (touchpoint == SHIPPING)
    at_payment = touchpoint == PAYMENT
    depth = s.depth[session]
    errors = np.where(last_shipping, s.ship_errors[session], np.where(at_payment, s.pay_errors[session], 0))
    last_product = (slot == 3) & (pos == layout[session, 3] - 1)
    small = np.int8
    return Steps(
        session=session,
        touchpoint=touchpoint,
        page=page,
        last=last,
        load_ms=load_ms.round().astype(np.float32),
        slow_load=slow_load,
        dwell_s=dwell(rng, n),
        stall_s=_only(rng, stall, 180.0, 900.0),
        # A stall must end with a click on its own page, so it never precedes a quick back.
        quick_back=listing & ~stall & (_chance(rng, n) < QUICK_BACK_RATE),
        quick_page=P_PRODUCT0 + rng.integers(0, N_PRODUCTS, n, dtype=np.int32),
        clicks=clicks.astype(small),
        click_offset=rng.integers(0, N_NORMAL_TARGETS, n, dtype=small),
        lookalike=np.where(double, 2, np.where(triple, 3, 0)).astype(small),
        rage=rage.astype(small),
        dead=dead,
        add_to_cart=last_product & ((depth >= 2) | (_chance(rng, n) < 0.04)),
        errors=errors.astype(small),
        incident_errors=np.where(at_payment, s.incident_errors[session], 0).astype(small),
        final_submit=(last_shipping & (depth >= 4)) | (at_payment & (depth == 5)),
        server_error=_chance(rng, n) < SERVER_ERROR_RATE,
        purchase=touchpoint == CONFIRMATION,
        results=results,
    )


def _only(rng: np.random.Generator, where: BoolArray, low: float, high: float) -> Float32Array:
    """Uniform draws where `where` holds, 0 elsewhere."""
    out = np.zeros(len(where), np.float32)
    out[where] = rng.uniform(low, high, int(where.sum()))
    return out


def _capped_poisson(rng: np.random.Generator, touchpoint: IntArray) -> IntArray:
    """min(Poisson(_CLICKS_MEAN[touchpoint]), N_NORMAL_TARGETS), by inverting the CDF with one uniform."""
    k = np.arange(N_NORMAL_TARGETS)
    mean = np.asarray(_CLICKS_MEAN)[:, None]
    pmf = np.exp(-mean) * mean**k / np.cumprod(np.r_[1, k[1:]])
    cdf = np.cumsum(pmf, axis=1).astype(np.float32)[touchpoint]
    u = _chance(rng, len(touchpoint))
    drawn: IntArray = (u[:, None] >= cdf).sum(axis=1).astype(np.int8)
    return drawn


def dwell(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    return np.clip(rng.lognormal(np.log(25.0), 0.5, n), 15.0, 80.0).astype(np.float32)


def normal_load(rng: np.random.Generator, n: int) -> FloatArray:
    """Ordinary page loads: about 0.8 s, never above 2.5 s (slow loads start at 4 s)."""
    return np.clip(rng.lognormal(np.log(800.0), 0.5, n), 120.0, 2500.0)


def _running_count(flag: BoolArray, group: IntArray) -> IntArray:
    """How many flags so far (inclusive) within each run of a sorted `group`."""
    return segment_cumsum(flag.astype(np.int64), group)


def friction_counts(s: Sessions, steps: Steps) -> dict[str, IntArray]:
    """(sessions x touchpoints) counts of each friction kind, at the touchpoint truth.py names."""
    key = steps.session * N_TOUCHPOINTS + steps.touchpoint
    size = s.n * N_TOUCHPOINTS

    def count(times: IntArray | BoolArray, where: IntArray = key) -> IntArray:
        found = np.bincount(np.repeat(where, times), minlength=size)
        return found.astype(np.int16).reshape(s.n, N_TOUCHPOINTS)

    counts = {
        "error": count(steps.errors + steps.server_error),
        "slow_load": count(steps.slow_load),
        "rage_click": count(steps.rage > 0),
        "dead_click": count(steps.dead),
        "long_stall": count(steps.stall_s > 0),
        "quick_back": count(steps.quick_back, steps.session * N_TOUCHPOINTS + PRODUCT),
        "search_no_results": count(steps.results == 0),
    }
    loops = np.zeros((s.n, N_TOUCHPOINTS), np.int16)
    loops[:, CART] = loops[:, SHIPPING] = s.loops
    exit_touchpoint = steps.touchpoint[steps.last]
    abandonment = np.zeros((s.n, N_TOUCHPOINTS), np.int16)
    abandoned = (s.depth >= 2) & (s.depth <= 4)
    abandonment[np.flatnonzero(abandoned), exit_touchpoint[abandoned]] = 1
    return {**counts, "checkout_loop": loops, "abandonment": abandonment}
