"""`simulate`: a world of sessions with known ground truth; `write_world`: its files.

Order of draws: users and sessions (sessions.py), their page visits and friction (steps.py),
the true probability from that friction (truth.py), the outcome y, then the events, with a
label event closing each y = 1 session after its last journey event, then the surveys.

A profile (profiles.py) sets the shop; a vocabulary only renames its events, so the same
seed gives the same sessions and truth in every vocabulary:

    default  the generator's names at pages; without a page column (small-shop), names
             that carry the touchpoint (naming.SHOP), mapped by the world's friction.toml;
    alt      unfamiliar names and no page column (naming.ALT); the friction.toml maps
             columns only, and world.json says which touchpoint each name truly belongs to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from features.errors import ConfigError
from features.schema import CORE_COLUMNS, OPTIONAL_COLUMNS
from pipelines.simulator.events import EventArrays, build_events
from pipelines.simulator.naming import ALT, SHOP, Naming
from pipelines.simulator.profiles import DEFAULT_PROFILE, Profile, profile_named
from pipelines.simulator.segments import FloatArray, IntArray
from pipelines.simulator.sessions import Sessions, draw_sessions
from pipelines.simulator.steps import draw_steps, friction_counts
from pipelines.simulator.truth import (
    BASE,
    EXPOSURE_KINDS,
    KINDS,
    context_contribution,
    sigmoid,
    touchpoint_contributions,
)
from pipelines.simulator.vocabulary import (
    CHANNELS,
    CLICK,
    COMPLAINT,
    CUSTOMER_TYPES,
    EVENTS,
    LABEL_EVENTS,
    PAGE_TOUCHPOINT,
    PAGES,
    PAYMENT,
    PLATFORMS,
    SUPPORT_CHAT,
    TARGETS,
    TOUCHPOINTS,
)
from pipelines.simulator.world_config import config_text
from pipelines.writers import write_parquet, write_text

__all__ = ["CONTEXT_COLUMNS", "VOCABULARIES", "World", "check_world_names", "simulate", "write_world"]

VOCABULARIES: tuple[str, ...] = ("default", "alt")
_US_PER_DAY = 86_400 * 1_000_000

CONTEXT_COLUMNS: tuple[str, ...] = ("platform", "acquisition_channel", "customer_type")
COMPLAINT_SHARE = 0.2  # of dissatisfied sessions, the rest contact support
# Unhappy customers answer surveys more often (response bias).
SURVEY_RESPONSE = {0: 0.08, 1: 0.30}
CSAT_P = {0: (0.02, 0.05, 0.18, 0.40, 0.35), 1: (0.55, 0.30, 0.10, 0.04, 0.01)}

_COUNT_COLUMNS = {
    "n_payment_errors": ("error", PAYMENT),
    "n_other_errors": ("error", None),
    "n_slow_loads": ("slow_load", None),
    "n_rage_clicks": ("rage_click", None),
    "n_dead_clicks": ("dead_click", None),
    "n_long_stalls": ("long_stall", None),
    "n_quick_backs": ("quick_back", None),
    "n_searches_no_results": ("search_no_results", None),
}


@dataclass(frozen=True)
class World:
    """A simulated shop: the events, the survey answers, and the truth behind them."""

    events: pd.DataFrame
    surveys: pd.DataFrame
    truth: pd.DataFrame
    profile: Profile = DEFAULT_PROFILE
    vocabulary: str = "default"
    # Renamed worlds: per event name, its true touchpoint and whether it is an error or a label.
    event_names: pd.DataFrame | None = None

    def metadata(self) -> dict[str, Any]:
        """What the files do not say: the profile, the time range, the incident, the names' truth."""
        incident = self.profile.incident
        names = None if self.event_names is None else self.event_names.set_index("event").to_dict("index")
        return {
            "profile": self.profile.name,
            "vocabulary": self.vocabulary,
            "sessions": len(self.truth),
            "start": self.profile.start.isoformat(),
            "end": self.profile.end.isoformat(),
            "incident": {
                "touchpoint": incident.touchpoint,
                "platform": incident.platform,
                "start": incident.start.isoformat(),
                "end": incident.end.isoformat(),
                "share": incident.share,
            },
            "label_events": list(_label_events(_naming(self.profile, self.vocabulary))),
            "event_names": names,
        }


def simulate(
    n_sessions: int | None = None, seed: int = 0, profile: str = "default", vocabulary: str = "default"
) -> World:
    """A world of `n_sessions` sessions (None: the profile's default); the same seed gives the
    same world, byte for byte, and the same sessions and truth in every vocabulary."""
    shop = profile_named(profile)
    naming = _naming(shop, vocabulary)
    n_sessions = shop.default_sessions if n_sessions is None else n_sessions
    for name, value, least in (("n_sessions", n_sessions, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
    rng = np.random.default_rng(seed)
    sessions = draw_sessions(rng, int(n_sessions), shop.days, shop.incident)
    steps = draw_steps(rng, sessions, shop.core_columns)
    counts = friction_counts(sessions, steps)
    contrib = touchpoint_contributions(np.stack([counts[k] for k in KINDS]), shop.payment_error_weight)
    friction = touchpoint_contributions(
        np.stack([np.zeros_like(counts[k]) if k in EXPOSURE_KINDS else counts[k] for k in KINDS]),
        shop.payment_error_weight,
    )
    context = context_contribution(sessions.platform, sessions.channel, sessions.customer_type)
    base = _base(sessions.start_us, shop)
    logit = base + contrib.sum(axis=1) + context
    p_true = sigmoid(logit)
    # The only noise: the outcome draw, after every event that can cause it.
    y = rng.random(sessions.n) < p_true
    label = np.where(y, np.where(rng.random(sessions.n) < COMPLAINT_SHARE, COMPLAINT, SUPPORT_CHAT), -1)
    arrays = build_events(rng, steps, sessions.start_us, label)
    end_us = arrays.timestamp_us[np.r_[np.flatnonzero(np.diff(arrays.session)), len(arrays.session) - 1]]
    if shop.core_columns:
        arrays = _select(arrays, arrays.event != CLICK)  # core-column logs record no clicks

    session_ids = _ids("s", sessions.n)
    user_ids = _ids("u", int(sessions.user[-1]) + 1)
    columns: dict[str, Any] = {
        "session_id": _strings(arrays.session, session_ids),
        "user_id": _strings(sessions.user.astype(np.int32)[arrays.session], user_ids),
        "timestamp": _timestamps(arrays.timestamp_us),
        "event": _event_names(arrays, naming, clicks=not shop.core_columns),
    }
    if naming is None:
        columns["page"] = _categorical(arrays.page, PAGES)
    if not shop.core_columns:
        columns |= {
            "target": _categorical(arrays.target, TARGETS),
            "x": arrays.x,
            "y": arrays.y,
            "load_ms": arrays.load_ms,
            "value": arrays.value,
        }
    columns |= {
        "platform": _categorical(sessions.platform[arrays.session], PLATFORMS),
        "acquisition_channel": _categorical(sessions.channel[arrays.session], CHANNELS),
        "customer_type": _categorical(sessions.customer_type[arrays.session], CUSTOMER_TYPES),
    }
    events = pd.DataFrame(columns, copy=False)
    truth = _truth(
        sessions, counts, contrib, friction, context, base, logit, p_true, y, session_ids, user_ids
    )
    surveys = _surveys(rng, sessions, y, end_us, session_ids, user_ids)
    return World(
        events=events,
        surveys=surveys,
        truth=truth,
        profile=shop,
        vocabulary=vocabulary,
        event_names=None if naming is None else naming.truth(clicks=not shop.core_columns),
    )


def check_world_names(profile: str, vocabulary: str) -> None:
    """A one-line ConfigError naming the allowed values if the profile or vocabulary is unknown."""
    _naming(profile_named(profile), vocabulary)


def _naming(profile: Profile, vocabulary: str) -> Naming | None:
    """The names a world's events get; None: the generator's own, at pages."""
    if vocabulary not in VOCABULARIES:
        raise ConfigError(f"unknown vocabulary {vocabulary!r}; allowed: {', '.join(VOCABULARIES)}")
    if vocabulary == "alt":
        return ALT
    return SHOP if profile.core_columns else None


def _label_events(naming: Naming | None) -> tuple[str, ...]:
    return LABEL_EVENTS if naming is None else tuple(naming.label_events())


def _base(start_us: IntArray, profile: Profile) -> FloatArray:
    """The base log-odds of each session: BASE, drifting linearly over the profile's range."""
    elapsed = (start_us - profile.start.value // 1000) / (profile.days * _US_PER_DAY)
    base: FloatArray = BASE + profile.base_drift * elapsed
    return base


def _select(arrays: EventArrays, keep: npt.NDArray[np.bool_]) -> EventArrays:
    return EventArrays(**{f.name: getattr(arrays, f.name)[keep] for f in fields(arrays)})


def _event_names(arrays: EventArrays, naming: Naming | None, clicks: bool) -> pd.Categorical:
    if naming is None:
        return _categorical(arrays.event, EVENTS)
    table, names = naming.table(clicks)
    codes = table[arrays.event, PAGE_TOUCHPOINT[arrays.page]]
    return _categorical(codes, names)


def _ids(prefix: str, n: int) -> npt.NDArray[np.str_]:
    # Zero-padded, so sorting by id is sorting by generation order.
    width = max(7, len(str(n - 1)))
    return np.char.add(prefix, np.char.zfill(np.arange(n).astype(str), width))


def _strings(codes: npt.NDArray[Any], names: npt.NDArray[np.str_]) -> Any:
    """A `str` column of names[codes], built by Arrow: ids repeat per event, and Parquet writes
    plain strings far faster than a categorical with a million categories."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names))
    return pd.array(dictionary.cast(pa.large_string()), dtype="str")


def _categorical(codes: npt.NDArray[Any], names: Any) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype="str"))


def _timestamps(us: IntArray) -> pd.Series:
    return pd.Series(us.astype(np.int64).view("datetime64[us]"), copy=False).dt.tz_localize("UTC")


def _truth(
    sessions: Sessions,
    counts: dict[str, IntArray],
    contrib: npt.NDArray[np.float64],
    friction: npt.NDArray[np.float64],
    context: npt.NDArray[np.float64],
    base: npt.NDArray[np.float64],
    logit: npt.NDArray[np.float64],
    p_true: npt.NDArray[np.float64],
    y: npt.NDArray[np.bool_],
    session_ids: npt.NDArray[np.str_],
    user_ids: npt.NDArray[np.str_],
) -> pd.DataFrame:
    columns: dict[str, Any] = {
        "session_id": pd.array(session_ids, dtype="str"),
        "user_id": pd.array(user_ids[sessions.user], dtype="str"),
        "p_true": p_true,
        "logit": logit,
        "base": base,
    }
    columns |= {f"contrib_{tp}": contrib[:, i] for i, tp in enumerate(TOUCHPOINTS)}
    columns["contrib_context"] = context
    columns |= {f"friction_{tp}": friction[:, i] for i, tp in enumerate(TOUCHPOINTS)}
    columns["incident"] = sessions.incident
    columns["y"] = y.astype(np.int8)
    for name, (kind, at) in _COUNT_COLUMNS.items():
        matrix = counts[kind]
        if name == "n_other_errors":
            total = matrix.sum(axis=1) - matrix[:, PAYMENT]
        else:
            total = matrix[:, at] if at is not None else matrix.sum(axis=1)
        columns[name] = total.astype(np.int64)
    columns["n_checkout_loops"] = sessions.loops
    columns["abandoned"] = (sessions.depth >= 2) & (sessions.depth <= 4)
    return pd.DataFrame(columns)


def _surveys(
    rng: np.random.Generator,
    sessions: Sessions,
    y: npt.NDArray[np.bool_],
    end_us: IntArray,
    session_ids: npt.NDArray[np.str_],
    user_ids: npt.NDArray[np.str_],
) -> pd.DataFrame:
    yi = y.astype(np.int64)
    respond = rng.random(sessions.n) < np.where(y, SURVEY_RESPONSE[1], SURVEY_RESPONSE[0])
    cumulative = np.cumsum(np.array([CSAT_P[0], CSAT_P[1]]), axis=1)
    csat = 1 + (rng.random(sessions.n)[:, None] > cumulative[yi]).sum(axis=1)
    # Answers arrive 5 min to 48 h after the session ends.
    delay_us = rng.uniform(300.0, 48 * 3600.0, sessions.n) * 1e6
    rows = np.flatnonzero(respond)
    return pd.DataFrame(
        {
            "session_id": pd.array(session_ids[rows], dtype="str"),
            "user_id": pd.array(user_ids[sessions.user[rows]], dtype="str"),
            "timestamp": _timestamps(end_us[rows] + delay_us[rows].astype(np.int64)).to_numpy(),
            "csat": csat[rows].astype(np.int64),
        }
    )


def write_world(world: World, out_dir: Path) -> dict[str, Path]:
    """Write events, surveys, truth (Parquet), world.json and a ready `friction.toml` into
    `out_dir`, each atomically."""
    out_dir = Path(out_dir)
    meta = world.metadata()
    naming = _naming(world.profile, world.vocabulary)
    config = config_text(
        [c for c in world.events.columns if c in (*CORE_COLUMNS, *OPTIONAL_COLUMNS)],
        [c for c in world.events.columns if c in CONTEXT_COLUMNS],
        meta["label_events"],
        naming,
        clicks=not world.profile.core_columns,
        # Alt worlds leave the touchpoints and signals to `friction init`.
        map_names=world.vocabulary == "default",
    )
    return {
        "events": write_parquet(world.events, out_dir / "events.parquet"),
        "surveys": write_parquet(world.surveys, out_dir / "surveys.parquet"),
        "truth": write_parquet(world.truth, out_dir / "truth.parquet"),
        "world": write_text(json.dumps(meta, indent=2) + "\n", out_dir / "world.json"),
        "config": write_text(config, out_dir / "friction.toml"),
    }
