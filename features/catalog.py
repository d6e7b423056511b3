"""The feature catalog: every feature's name, touchpoint, family, one-line meaning and unit.

Names are `<scope>__<family>`: scope is `session`, `funnel`, `context` or a touchpoint
(`payment__rage_clicks`, `cart__dwell_s`). The featurizer builds its columns from the
catalog, so every column it writes has words here; reports and the API read them from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from features.signals import Signal, SignalsConfig

__all__ = ["Catalog", "CatalogEntry", "build_catalog", "touchpoint_families"]

FLOAT = "float64"
CATEGORY = "category"
_COUNT = "count"

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
                "session__stalls", None, "stalls", f"pauses of over {config.stall_s:g} s mid-session", _COUNT
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
                "funnel__regressions", None, "regressions", "moves back to an earlier funnel stage", _COUNT
            )
        )
    texts = {family: (unit, meaning) for family, unit, meaning in _TOUCHPOINT}
    texts |= {s.name: (_COUNT, s.meaning) for s in signals}
    for touchpoint in touchpoints:
        for family in touchpoint_families(signals, touchpoint in funnel):
            unit, meaning = texts[family]
            text = meaning.format(touchpoint=touchpoint, **thresholds)
            entries.append(CatalogEntry(f"{touchpoint}__{family}", touchpoint, family, text, unit))
    entries += [
        CatalogEntry(
            f"context__{name}", None, name, f"the session's `{name}` (first value seen)", CATEGORY, CATEGORY
        )
        for name in context
    ]
    return Catalog(tuple(entries))
