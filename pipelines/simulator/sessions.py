"""Who visits and when: users, their sessions over the range, and how far each session goes.

Nothing here sees the outcome: the journey and its friction are drawn first, the outcome
after (`world.py`), so every event before a label event is independent of it. How deep a
session goes is drawn per session (intent), then cut short by friction: address errors may
end it at shipping, payment errors (and the outage, `INCIDENT`) at payment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.simulator.segments import BoolArray, FloatArray, IntArray, first_index
from pipelines.simulator.vocabulary import CATEGORIES, PLATFORMS, SEARCH_TERMS

__all__ = ["INCIDENT", "START", "Incident", "Sessions", "draw_sessions"]

START = pd.Timestamp("2026-01-05T00:00:00Z")
DAYS = 28
_US_PER_S = 1_000_000
_US_PER_H = 3600 * _US_PER_S
# A user's sessions start >= 4 h apart: sessions last < 2 h, so a 30 min gap always splits them.
MIN_SESSION_SPACING_US = 4 * _US_PER_H
MAX_SESSIONS_PER_USER = 12


@dataclass(frozen=True)
class Incident:
    """A payment outage: sessions starting in [start, end) on `platform` (None: any) that reach
    payment get payment errors, all of them or a `share` drawn at random."""

    touchpoint: str
    platform: str | None
    start: pd.Timestamp
    end: pd.Timestamp
    error_target: str
    share: float = 1.0


INCIDENT = Incident(
    touchpoint="payment",
    platform="android",
    start=pd.Timestamp("2026-01-19T00:00:00Z"),
    end=pd.Timestamp("2026-01-22T00:00:00Z"),
    error_target="payment_unavailable",
)

# Depth a session means to reach: 0 home, 1 browse, 2 cart, 3 shipping, 4 payment, 5 purchase.
_INTENT_P = {"new": (0.20, 0.53, 0.06, 0.04, 0.03, 0.14), "returning": (0.11, 0.46, 0.07, 0.045, 0.04, 0.275)}


@dataclass(frozen=True)
class Sessions:
    user: IntArray
    start_us: IntArray  # epoch microseconds, UTC
    platform: IntArray
    channel: IntArray
    customer_type: IntArray  # 0 new, 1 returning
    depth: IntArray  # stage reached, 0..5 as in _INTENT_P
    rounds: IntArray
    account: IntArray
    help: IntArray
    loops: IntArray
    ship_errors: IntArray
    pay_errors: IntArray  # all payment errors, outage ones included
    incident_errors: IntArray
    incident: BoolArray
    category: IntArray  # the session's favourite category and search term
    term: IntArray

    @property
    def n(self) -> int:
        return len(self.user)


def _sessions_per_user(rng: np.random.Generator, n: int) -> IntArray:
    per_user = 1 + np.minimum(rng.poisson(1.5, size=n), MAX_SESSIONS_PER_USER - 1)
    total = np.cumsum(per_user)
    n_users = int(np.searchsorted(total, n)) + 1
    per_user = per_user[:n_users].astype(np.int64)
    per_user[-1] -= int(total[n_users - 1]) - n
    return per_user


def _start_times(rng: np.random.Generator, user: IntArray, per_user: IntArray, days: int) -> IntArray:
    """Sorted start times per user, >= MIN_SESSION_SPACING_US apart, inside the `days`."""
    span = days * 24 * _US_PER_H - 2 * _US_PER_H
    free = span - (per_user[user] - 1) * MIN_SESSION_SPACING_US
    offset = (rng.random(len(user)) * free).astype(np.int64)
    offset = offset[np.lexsort((offset, user))]
    rank = np.arange(len(user)) - first_index(user, len(per_user))[user]
    return START.value // 1000 + offset + rank * MIN_SESSION_SPACING_US


def _choice(rng: np.random.Generator, probs: FloatArray, rows: IntArray) -> IntArray:
    """One draw per element of `rows` from the categorical distribution probs[rows]."""
    cumulative = np.cumsum(probs, axis=1)
    cumulative /= cumulative[:, -1:]  # rows that do not quite sum to 1 must not yield len(row)
    u = rng.random(len(rows))
    drawn: IntArray = (u[:, None] > cumulative[rows]).sum(axis=1).astype(np.int64)
    return drawn


def draw_sessions(
    rng: np.random.Generator, n: int, days: int = DAYS, incident: Incident = INCIDENT
) -> Sessions:
    """`n` sessions starting over `days` from START, with `incident` on the way."""
    per_user = _sessions_per_user(rng, n)
    n_users = len(per_user)
    user = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
    start_us = _start_times(rng, user, per_user, days)
    # Platform and acquisition channel belong to the user; half the users bought before the window.
    per_user_row = np.zeros(n_users, np.int64)
    platform = _choice(rng, np.array([[0.5, 0.25, 0.25]]), per_user_row)[user].astype(np.int8)
    channel = _choice(rng, np.array([[0.4, 0.25, 0.15, 0.2]]), per_user_row)[user].astype(np.int8)
    existing = (rng.random(n_users) < 0.5)[user]
    first = np.r_[True, user[1:] != user[:-1]]
    customer_type = (existing | ~first).astype(np.int8)

    intent = _choice(rng, np.array([_INTENT_P["new"], _INTENT_P["returning"]]), customer_type)
    rounds = np.where(intent > 0, 1 + np.minimum(rng.poisson(1.6, n), 9), 0)
    account = (rng.random(n) < np.where(customer_type == 1, 0.12, 0.03)).astype(np.int64)
    help_ = (rng.random(n) < 0.06).astype(np.int64)
    loops = np.where((intent >= 3) & (rng.random(n) < 0.05), 1 + np.minimum(rng.geometric(0.6, n) - 1, 2), 0)

    # Address errors at shipping may end the journey there.
    ship_errors = np.where((intent >= 3) & (rng.random(n) < 0.05), 1 + np.minimum(rng.poisson(0.3, n), 2), 0)
    depth = np.where((intent >= 4) & (rng.random(n) > 0.85**ship_errors), 3, intent)
    # Payment errors, and the outage on top of them; each error may make the customer give up.
    at_payment = depth >= 4
    normal = np.where(at_payment & (rng.random(n) < 0.08), 1 + np.minimum(rng.poisson(0.4, n), 3), 0)
    hit = at_payment & (start_us >= incident.start.value // 1000) & (start_us < incident.end.value // 1000)
    if incident.platform is not None:
        hit &= platform == PLATFORMS.index(incident.platform)
    if incident.share < 1.0:
        hit &= rng.random(n) < incident.share
    incident_errors = np.where(hit, 1 + np.minimum(rng.poisson(1.0, n), 3), 0)
    pay_errors = normal + incident_errors
    depth = np.where((depth == 5) & (rng.random(n) > 0.7**pay_errors), 4, depth)

    return Sessions(
        user=user,
        start_us=start_us,
        platform=platform,
        channel=channel,
        customer_type=customer_type,
        depth=depth.astype(np.int64),
        rounds=rounds.astype(np.int64),
        account=account,
        help=help_,
        loops=np.where(depth >= 3, loops, 0).astype(np.int64),
        ship_errors=ship_errors.astype(np.int64),
        pay_errors=pay_errors.astype(np.int64),
        incident_errors=incident_errors.astype(np.int64),
        incident=hit,
        category=rng.integers(0, len(CATEGORIES), n),
        term=rng.integers(0, len(SEARCH_TERMS), n),
    )
