"""Steps -> events: each page visit becomes a run of events in a fixed order, then times.

Within a visit, events come in this slot order (counts per visit, most are 0 or 1):

    page_view, search, quick back (product page_view, page_view back), ordinary clicks,
    look-alike clicks (double or slow triple), rage-click burst, dead click, add_to_cart,
    submit/error pairs, the submit that passes, server error, purchase, label event.

Timing is a gap after each event, chosen by its role, so the friction rules see exactly what
was injected: ordinary clicks are followed within 1.1-2.4 s (never dead, never a burst), only
rage bursts have clicks < 1 s apart, only dead clicks are followed by 3-10 s of silence,
only stalls leave > 2 min (reading time is 15-80 s plus a load of at most 12 s), and only a
quick back leaves a page within 3 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipelines.simulator.segments import FloatArray, IntArray, expand
from pipelines.simulator.steps import Steps, dwell, normal_load
from pipelines.simulator.vocabulary import (
    ADD_TO_CART,
    CLICK,
    DEAD_TARGET,
    ERROR,
    LOOKALIKE_TARGET,
    N_NORMAL_TARGETS,
    NORMAL_TARGETS,
    P_HELP_COMPLAINT,
    P_HELP_CONTACT,
    PAGE_VIEW,
    PAYMENT,
    PURCHASE,
    RAGE_TARGET,
    SEARCH_EVENT,
    SUBMIT,
    SUPPORT_CHAT,
    T_ADDRESS_INVALID,
    T_PAYMENT_DECLINED,
    T_PAYMENT_UNAVAILABLE,
    T_SERVER_ERROR,
    TARGET_X,
    TARGET_Y,
)

__all__ = ["EventArrays", "build_events"]

(
    S_VIEW,
    S_SEARCH,
    S_QUICK_BACK,
    S_CLICKS,
    S_LOOKALIKE,
    S_RAGE,
    S_DEAD,
    S_ADD,
    S_ATTEMPTS,
    S_SUBMIT,
    S_SERVER_ERROR,
    S_PURCHASE,
    S_LABEL,
) = range(13)
_SLOT_EVENT = np.array(
    [
        PAGE_VIEW,
        SEARCH_EVENT,
        PAGE_VIEW,
        CLICK,
        CLICK,
        CLICK,
        CLICK,
        ADD_TO_CART,
        SUBMIT,
        SUBMIT,
        ERROR,
        PURCHASE,
        0,
    ],
    dtype=np.int8,
)
# Gap after an event of each slot, uniform in [low, high] seconds; page views, searches,
# quick-back returns, double clicks, burst ends and failed attempts are set apart.
_GAP: dict[int, tuple[float, float]] = {
    S_QUICK_BACK: (0.5, 3.0),  # leaves the product page within 3 s
    S_CLICKS: (1.1, 2.4),
    S_LOOKALIKE: (1.1, 2.0),  # slow triple clicks: > 1 s apart
    S_RAGE: (0.1, 0.6),  # inside a rage burst
    S_DEAD: (3.0, 10.0),  # nothing happens
    S_ADD: (0.5, 2.0),
    S_ATTEMPTS: (0.3, 2.0),  # submit -> error
    S_SUBMIT: (0.3, 2.0),
    S_SERVER_ERROR: (4.0, 20.0),  # reading an error
    S_PURCHASE: (5.0, 30.0),
}
_READING_ERROR = _GAP[S_SERVER_ERROR]
_AFTER_BURST = (1.1, 2.4)
_DOUBLE_CLICK = (0.08, 0.3)
_RESULTS_LOAD = (0.2, 0.8)
_BEFORE_LABEL = (10.0, 600.0)
_CLICK_JITTER_PX = 40.0
_BURST_JITTER_PX = 6.0  # any two clicks of a burst stay < 30 px apart


@dataclass(frozen=True)
class EventArrays:
    """Event columns as codes and numbers, in session order, then time order."""

    session: IntArray
    timestamp_us: IntArray
    event: IntArray
    page: IntArray
    target: IntArray  # -1 = none
    x: FloatArray
    y: FloatArray
    load_ms: FloatArray
    value: FloatArray


def _counts(steps: Steps, label: IntArray) -> npt.NDArray[np.int8]:
    is_search = ~np.isnan(steps.results)
    columns = [
        np.ones(steps.n, np.int8),
        is_search,
        2 * steps.quick_back,
        steps.clicks,
        steps.lookalike,
        steps.rage,
        steps.dead,
        steps.add_to_cart,
        2 * steps.errors,
        steps.final_submit,
        steps.server_error,
        steps.purchase,
        steps.last & (label[steps.session] >= 0),
    ]
    return np.stack([np.asarray(c, dtype=np.int8) for c in columns], axis=1)


def build_events(rng: np.random.Generator, steps: Steps, start_us: IntArray, label: IntArray) -> EventArrays:
    """Events of all steps; `label[session]` is SUPPORT_CHAT/COMPLAINT to end with, or -1."""
    grid = expand(_counts(steps, label))
    step, slot, pos = grid.parent, grid.slot, grid.pos
    n = len(step)
    # Each slot's rows, once (one stable radix sort): the work below touches only the rows it concerns.
    by_slot = np.argsort(slot, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(slot, minlength=len(_SLOT_EVENT)))]
    at = [by_slot[bounds[s] : bounds[s + 1]] for s in range(len(_SLOT_EVENT))]
    attempts = at[S_ATTEMPTS]
    failed = attempts[pos[attempts] % 2 == 1]
    quick_out = at[S_QUICK_BACK][pos[at[S_QUICK_BACK]] == 0]
    quick_return = at[S_QUICK_BACK][pos[at[S_QUICK_BACK]] == 1]
    session = steps.session[step]
    touchpoint = steps.touchpoint[step]

    event = _SLOT_EVENT[slot]
    event[failed] = ERROR
    labels = at[S_LABEL]
    event[labels] = label[session[labels]]

    page = steps.page[step]
    page[quick_out] = steps.quick_page[step[quick_out]]
    page[labels] = np.where(event[labels] == SUPPORT_CHAT, P_HELP_CONTACT, P_HELP_COMPLAINT)

    target = np.full(n, -1, np.int16)
    rows = at[S_CLICKS]
    column = (steps.click_offset[step[rows]] + pos[rows]) % N_NORMAL_TARGETS
    target[rows] = NORMAL_TARGETS[touchpoint[rows], column]
    for s, table in ((S_LOOKALIKE, LOOKALIKE_TARGET), (S_RAGE, RAGE_TARGET), (S_DEAD, DEAD_TARGET)):
        target[at[s]] = table[touchpoint[at[s]]]
    outage = pos[failed] // 2 >= (steps.errors - steps.incident_errors)[step[failed]]
    target[failed] = np.where(
        touchpoint[failed] == PAYMENT,
        np.where(outage, T_PAYMENT_UNAVAILABLE, T_PAYMENT_DECLINED),
        T_ADDRESS_INVALID,
    )
    target[at[S_SERVER_ERROR]] = T_SERVER_ERROR

    x, y = _click_positions(rng, steps, step, target, at)
    load_ms = np.full(n, np.nan)
    load_ms[at[S_VIEW]] = steps.load_ms[step[at[S_VIEW]]]
    load_ms[quick_out] = normal_load(rng, len(quick_out)).round()
    load_ms[quick_return] = normal_load(rng, len(quick_return)).round()
    value = np.full(n, np.nan)
    value[at[S_SEARCH]] = steps.results[step[at[S_SEARCH]]]

    gap = _gaps(rng, steps, step, pos, at, quick_return, load_ms)
    return EventArrays(
        session=session,
        timestamp_us=_timestamps(gap, session, start_us),
        event=event,
        page=page,
        target=target,
        x=x,
        y=y,
        load_ms=load_ms,
        value=value,
    )


def _click_positions(
    rng: np.random.Generator, steps: Steps, step: IntArray, target: IntArray, at: Sequence[IntArray]
) -> tuple[FloatArray, FloatArray]:
    """Pixels around each target's spot; bursts (rage and look-alikes) share a centre per visit."""
    single = np.concatenate([at[S_CLICKS], at[S_DEAD]])
    burst = np.concatenate([at[S_LOOKALIKE], at[S_RAGE]])
    has_burst = (steps.lookalike > 0) | (steps.rage > 0)
    out = []
    for spot in (TARGET_X, TARGET_Y):
        centre = np.zeros(steps.n, np.float32)
        centre[has_burst] = rng.uniform(-_CLICK_JITTER_PX, _CLICK_JITTER_PX, int(has_burst.sum()))
        coordinate = np.full(len(step), np.nan)
        jitter = rng.uniform(-_CLICK_JITTER_PX, _CLICK_JITTER_PX, len(single))
        coordinate[single] = (spot[target[single]] + jitter).round()
        jitter = rng.uniform(-_BURST_JITTER_PX, _BURST_JITTER_PX, len(burst))
        coordinate[burst] = (spot[target[burst]] + centre[step[burst]] + jitter).round()
        out.append(coordinate)
    return out[0], out[1]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> FloatArray:
    return rng.uniform(bounds[0], bounds[1], n)


def _gaps(
    rng: np.random.Generator,
    steps: Steps,
    step: IntArray,
    pos: IntArray,
    at: Sequence[IntArray],
    quick_return: IntArray,
    load_ms: FloatArray,
) -> FloatArray:
    """Seconds from each event to the next one of its session."""
    gap = np.empty(len(step))
    for s, bounds in _GAP.items():
        gap[at[s]] = _uniform(rng, bounds, len(at[s]))
    failed = at[S_ATTEMPTS][pos[at[S_ATTEMPTS]] % 2 == 1]
    gap[failed] = _uniform(rng, _READING_ERROR, len(failed))
    gap[at[S_LABEL]] = 0.0
    # A visit's reading time (and stall) follows its last opening event: the search if any.
    views, searches = at[S_VIEW], at[S_SEARCH]
    view_step, search_step = step[views], step[searches]
    reading = steps.load_ms / np.float32(1000.0) + steps.dwell_s + steps.stall_s
    gap[views] = reading[view_step]
    gap[searches] = reading[search_step]
    on_search_page = views[~np.isnan(steps.results[view_step])]
    gap[on_search_page] = _uniform(rng, _RESULTS_LOAD, len(on_search_page))
    gap[quick_return] = load_ms[quick_return] / 1000.0 + dwell(rng, len(quick_return))
    # Double clicks are < 0.3 s apart; the last click of any burst waits > 1 s.
    looks = at[S_LOOKALIKE]
    double = looks[steps.lookalike[step[looks]] == 2]
    gap[double[pos[double] == 0]] = _uniform(rng, _DOUBLE_CLICK, int((pos[double] == 0).sum()))
    rages = at[S_RAGE]
    burst_end = np.concatenate([double[pos[double] == 1], rages[pos[rages] == steps.rage[step[rages]] - 1]])
    gap[burst_end] = _uniform(rng, _AFTER_BURST, len(burst_end))
    # The label event comes 10 s - 10 min after the last journey event.
    gap[at[S_LABEL] - 1] = _uniform(rng, _BEFORE_LABEL, len(at[S_LABEL]))
    return gap


def _timestamps(gap: FloatArray, session: IntArray, start_us: IntArray) -> IntArray:
    """Session start + the gaps before each event; every session has at least one event."""
    gap_us = np.rint(gap * 1e6).astype(np.int64)
    elapsed = np.cumsum(gap_us)
    elapsed -= gap_us
    first = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    elapsed += np.repeat(start_us - elapsed[first], np.diff(np.r_[first, len(session)]))
    return elapsed
