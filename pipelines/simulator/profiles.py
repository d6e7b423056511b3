"""Profiles: which shop the simulator models. One generator, a few dials per profile.

    default     20,000 sessions over 4 weeks, every optional column (page, target, x, y,
                load_ms, value), a 3-day payment outage on Android.
    small-shop  3,000 sessions over 12 weeks, the core columns only: friction shows only in
                event names (errors) and timing (stalls, quick backs, loops). The base rate
                drifts up, and a 3-week payment incident sits in the middle of the range.

The default profile makes exactly the draws the simulator always made, so its world is the
one it always wrote, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd

from features.errors import ConfigError
from pipelines.simulator.sessions import INCIDENT, START, Incident
from pipelines.simulator.truth import PAYMENT_ERROR_WEIGHT

__all__ = ["DEFAULT_PROFILE", "PROFILES", "Profile", "profile_named"]


@dataclass(frozen=True)
class Profile:
    name: str
    default_sessions: int
    days: int
    incident: Incident
    # Log-odds added to the base rate from the first to the last instant of the range.
    base_drift: float
    payment_error_weight: float
    # Events carry the core columns only: touchpoints come from event names, clicks are not
    # logged, and friction that needs page, target, x, y, load_ms or value never happens.
    core_columns: bool

    @property
    def start(self) -> pd.Timestamp:
        return START

    @property
    def end(self) -> pd.Timestamp:
        return START + pd.Timedelta(days=self.days)


DEFAULT_PROFILE = Profile(
    name="default",
    default_sessions=20_000,
    days=28,
    incident=INCIDENT,
    base_drift=0.0,
    payment_error_weight=PAYMENT_ERROR_WEIGHT,
    core_columns=False,
)
SMALL_SHOP = Profile(
    name="small-shop",
    default_sessions=3_000,
    days=84,
    # Weeks 6 to 8 of 12: over before the last quarter, where a time split tests.
    incident=Incident(
        touchpoint="payment",
        platform=None,
        start=pd.Timestamp("2026-02-09T00:00:00Z"),
        end=pd.Timestamp("2026-03-02T00:00:00Z"),
        error_target="payment_unavailable",
        share=0.7,
    ),
    base_drift=0.8,
    # A failed payment is what customers complain about: most sessions that meet one are unhappy.
    payment_error_weight=3.5,
    core_columns=True,
)
PROFILES = MappingProxyType({p.name: p for p in (DEFAULT_PROFILE, SMALL_SHOP)})


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; allowed: {', '.join(PROFILES)}") from None
