"""The feature catalog: every feature's name, touchpoint, family, one-line meaning, unit and role.

Names are `<scope>__<family>`: scope is `session`, `funnel`, `context` or a touchpoint
(`payment__rage_clicks`, `cart__dwell_s`). The featurizer builds its columns from the
catalog, so every column it writes has words here; reports and the API read them from it.

The role is the one definition of friction versus exposure (DESIGN.md, principle 9):
`friction` counts something that went wrong (every signal: errors, rage/dead/error clicks,
quick backs, loops, ping-pongs, repeated submits, slow loads, stalls, searches without
results, funnel regressions), so a session without it has a count of 0; `exposure` is the
shape and context of the journey (visits, dwell, events, exit, hour, platform...). Monotone
constraints, drivers and counterfactual impact all read it through `is_friction`, which
falls back to the family rule for catalogs saved before roles existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Literal

from features.signals import SIGNAL_NAMES, Signal, SignalsConfig

__all__ = [
    "EXPOSURE",
    "FRICTION",
    "FRICTION_FAMILIES",
    "SESSION_TOTALS",
    "Catalog",
    "CatalogEntry",
    "Role",
    "build_catalog",
    "friction_features",
    "is_friction",
    "total_of",
    "touchpoint_families",
]

FLOAT = "float64"
CATEGORY = "category"
_COUNT = "count"
Role = Literal["friction", "exposure"]
FRICTION: Role = "friction"
EXPOSURE: Role = "exposure"
# The families whose features are friction: every signal's per-touchpoint count (`stalls` is
# also session-wide) and the session's funnel regressions (family `regressions`).
FRICTION_FAMILIES: frozenset[str] = frozenset(SIGNAL_NAMES) | {"regressions"}
# Session-wide friction totals -> the per-touchpoint family each one sums (the featurizer's sums).
SESSION_TOTALS: Mapping[str, str] = {"session__stalls": "stalls", "funnel__regressions": "funnel_regressions"}
_SEPARATOR = "__"

# (family, unit, meaning); the featurizer fills each one.
_SESSION: tuple[tuple[str, str, str], ...] = (
    ("events", _COUNT, "journey events in the session"),
    ("duration_s", "seconds", "time from the session's first to its last journey event"),
    ("touchpoints", _COUNT, "distinct touchpoints visited"),
    ("visits", _COUNT, "touchpoint visits (runs of events at one touchpoint)"),
    ("pace_epm", "events per minute", "events per minute of session (empty when it lasted 0 s)"),
    ("max_gap_s", "seconds", "longest pause between two events"),
    ("hour", "hour (UTC)", "hour of day the session started, UTC"),
    ("weekday", "day (0 = Monday)", "day of week the session started, UTC"),
    ("prior_sessions", _COUNT, "earlier sessions of the same user (empty without a user id)"),
    ("days_since_last", "days", "days since the user's previous session ended (empty for a first session)"),
)
_TOUCHPOINT: tuple[tuple[str, str, str], ...] = (
    ("visits", _COUNT, "visits to {touchpoint}"),
    ("revisits", _COUNT, "returns to {touchpoint} after the first visit"),
    ("dwell_s", "seconds", "time spent at {touchpoint} (until each next event)"),
    ("exit", "0/1", "1 when the session's last journey event is at {touchpoint}"),
)


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    touchpoint: str | None
    family: str
    meaning: str
    unit: str
    dtype: str = FLOAT
    role: Role = EXPOSURE
    # For a session-wide friction total: the per-touchpoint family it sums (`SESSION_TOTALS`).
    total_of: str | None = None


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def _by_name(self) -> dict[str, CatalogEntry]:
        return {entry.name: entry for entry in self.entries}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    @property
    def numeric(self) -> tuple[CatalogEntry, ...]:
        return tuple(entry for entry in self.entries if entry.dtype == FLOAT)

    @property
    def categorical(self) -> tuple[CatalogEntry, ...]:
        return tuple(entry for entry in self.entries if entry.dtype == CATEGORY)

    def __getitem__(self, name: str) -> CatalogEntry:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no feature named {name!r} in the catalog") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def to_records(self) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.entries]


def _family(name: str, entry: Mapping[str, Any] | None) -> str | None:
    if entry is not None and entry.get("family"):
        return str(entry["family"])
    scope, separator, family = name.rpartition(_SEPARATOR)
    return family if separator and scope else None


def is_friction(name: str, entry: Mapping[str, Any] | None = None) -> bool:
    """True for a friction feature. `entry`: its catalog record when known; its `role` decides,
    and a record without one (saved before roles) or no record goes by the family rule."""
    if entry is not None and entry.get("role") in (FRICTION, EXPOSURE):
        return bool(entry["role"] == FRICTION)
    if entry is not None and entry.get("dtype") == CATEGORY:
        return False
    return _family(name, entry) in FRICTION_FAMILIES


def total_of(name: str, entry: Mapping[str, Any] | None = None) -> str | None:
    """The per-touchpoint family a session-wide friction total sums, else None."""
    if entry is not None and "total_of" in entry:
        found = entry["total_of"]
        return None if found is None else str(found)
    return SESSION_TOTALS.get(name)


def friction_features(names: Iterable[str], catalog: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The friction features among `names`, in their order (`catalog`: records by name)."""
    return [name for name in names if is_friction(name, catalog.get(name))]


def touchpoint_families(signals: Sequence[Signal], in_funnel: bool) -> tuple[str, ...]:
    """The per-touchpoint families, in column order; regressions only leave funnel stages."""
    names = [family for family, _, _ in _TOUCHPOINT]
    names += [s.name for s in signals if in_funnel or s.name != "funnel_regressions"]
    return tuple(names)


def build_catalog(
    touchpoints: Sequence[str],
    funnel: Sequence[str],
    signals: Sequence[Signal],
    config: SignalsConfig,
    context: Sequence[str] = (),
) -> Catalog:
    """Entries for these touchpoints, enabled signals and context columns, in column order."""
    thresholds = config.model_dump()
    entries = [
        CatalogEntry(f"session__{family}", None, family, meaning, unit) for family, unit, meaning in _SESSION
    ]
    enabled = {s.name for s in signals}
    if "stalls" in enabled:
        entries.append(
            CatalogEntry(
                "session__stalls",
                None,
                "stalls",
                f"pauses of over {config.stall_s:g} s mid-session",
                _COUNT,
                role=FRICTION,
                total_of=SESSION_TOTALS["session__stalls"],
            )
        )
    entries.append(
        CatalogEntry(
            "funnel__deepest_stage",
            None,
            "deepest_stage",
            f"deepest funnel stage reached ({' > '.join(funnel) or 'no funnel'}); 0 = none",
            "stage",
        )
    )
    if "funnel_regressions" in enabled:
        entries.append(
            CatalogEntry(
                "funnel__regressions",
                None,
                "regressions",
                "moves back to an earlier funnel stage",
                _COUNT,
                role=FRICTION,
                total_of=SESSION_TOTALS["funnel__regressions"],
            )
        )
    texts: dict[str, tuple[str, str, Role]] = {
        family: (unit, meaning, EXPOSURE) for family, unit, meaning in _TOUCHPOINT
    }
    texts |= {s.name: (_COUNT, s.meaning, FRICTION) for s in signals}
    for touchpoint in touchpoints:
        for family in touchpoint_families(signals, touchpoint in funnel):
            unit, meaning, role = texts[family]
            text = meaning.format(touchpoint=touchpoint, **thresholds)
            entries.append(CatalogEntry(f"{touchpoint}__{family}", touchpoint, family, text, unit, role=role))
    entries += [
        CatalogEntry(
            f"context__{name}", None, name, f"the session's `{name}` (first value seen)", CATEGORY, CATEGORY
        )
        for name in context
    ]
    return Catalog(tuple(entries))
