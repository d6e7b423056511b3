"""Friction signals: small named functions over a `Journey`, thresholds in `[signals]`.

Each signal returns the offsets of the events where it fires, one per occurrence; the
featurizer counts them per session and per touchpoint (the touchpoint of that event).
Defaults come from established tools where one exists:
- rage clicks: posthog-js `RageClick` (3 clicks, each < 1000 ms and < 30 px Manhattan
  distance from the previous one; a burst counts once, however long it goes on);
- dead clicks: PostHog's dead-click autocapture (no reaction within 2500 ms);
- slow loads: Core Web Vitals, where a largest contentful paint over 4 s is "poor";
- quick backs: the usual 5-second "quick back" of session-replay tools.
The other windows are this project's choices, documented on their fields.
A signal whose input column is absent is skipped (and recorded), never invented.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from features.patterns import LinearPattern, check_pattern
from features.schema import did_you_mean
from features.section import Section
from features.sessions import Journey, offsets

__all__ = [
    "EVENT_KINDS",
    "SIGNALS",
    "SIGNAL_NAMES",
    "EventMatch",
    "Signal",
    "SignalsConfig",
    "event_positions",
    "select_signals",
]

_MS = 1_000  # microseconds per millisecond
_S = 1_000_000
_NONE = np.empty(0, dtype=np.int64)
# The kinds of event signals look for, each set by `<kind>_event`, `<kind>_events` and
# `<kind>_event_pattern` in [signals].
EVENT_KINDS: tuple[str, ...] = ("click", "error", "submit", "search", "page_view")


class SignalsConfig(Section):
    """Thresholds of the friction signals, and the event names they look for."""

    # The events each signal looks for. An event is a click when its name is `click_event`,
    # is listed in `click_events`, or matches `click_event_pattern` (searched in the name, on
    # RE2: features/patterns.py); the same for errors, submits, searches and page views.
    click_event: str = "click"
    click_events: list[str] = Field(default_factory=list)
    click_event_pattern: str | None = None
    error_event: str = "error"
    error_events: list[str] = Field(default_factory=list)
    error_event_pattern: str | None = None
    submit_event: str = "submit"
    submit_events: list[str] = Field(default_factory=list)
    submit_event_pattern: str | None = None
    search_event: str = "search"
    search_events: list[str] = Field(default_factory=list)
    search_event_pattern: str | None = None
    page_view_event: str = "page_view"
    page_view_events: list[str] = Field(default_factory=list)
    page_view_event_pattern: str | None = None
    # PostHog: a burst of >= 3 clicks on one spot, each < 1000 ms after the previous.
    rage_click_min_clicks: int = Field(default=3, ge=2)
    rage_click_max_interval_ms: float = Field(default=1000.0, gt=0)
    rage_click_max_distance_px: float = Field(default=30.0, gt=0)
    # PostHog: a click with no reaction within 2.5 s.
    dead_click_ms: float = Field(default=2500.0, gt=0)
    # An error this soon after a click is blamed on the click (covers a server round trip).
    error_click_ms: float = Field(default=2000.0, gt=0)
    # Back to the previous touchpoint within 5 s.
    quick_back_s: float = Field(default=5.0, gt=0)
    # The same page viewed >= 3 times within 15 s.
    page_loop_min: int = Field(default=3, ge=2)
    page_loop_window_s: float = Field(default=15.0, gt=0)
    # A-B-A-B: >= 4 visits alternating between two touchpoints.
    ping_pong_min: int = Field(default=4, ge=3)
    # A search within 60 s of the previous search refines it.
    search_refinement_s: float = Field(default=60.0, gt=0)
    # Core Web Vitals: a load over 4 s is poor.
    slow_load_ms: float = Field(default=4000.0, gt=0)
    # A pause of over 2 min between two events of a session (reading a page takes less).
    stall_s: float = Field(default=120.0, gt=0)
    # A submit within 30 s of the previous submit at the same touchpoint.
    repeated_submit_s: float = Field(default=30.0, gt=0)
    # Signals to leave out, by name (see SIGNAL_NAMES).
    disabled: list[str] = Field(default_factory=list)

    @field_validator(*(f"{kind}_event" for kind in EVENT_KINDS), mode="before")
    @classmethod
    def _one_name(cls, name: Any, info: ValidationInfo) -> Any:
        if isinstance(name, list):
            raise ValueError(f"takes one event name; for several, write `{info.field_name}s = [...]`")
        if isinstance(name, str) and not name.strip():
            raise ValueError("an event name cannot be empty")
        return name

    @field_validator(*(f"{kind}_events" for kind in EVENT_KINDS), mode="before")
    @classmethod
    def _names(cls, names: Any, info: ValidationInfo) -> Any:
        if isinstance(names, str):
            single = info.field_name.removesuffix("s") if info.field_name else "the single-name key"
            raise ValueError(
                f"takes a list of event names, e.g. [{names!r}] (or write `{single} = {names!r}`)"
            )
        if isinstance(names, list) and any(isinstance(n, str) and not n.strip() for n in names):
            raise ValueError("an event name cannot be empty")
        return names

    @field_validator(*(f"{kind}_event_pattern" for kind in EVENT_KINDS))
    @classmethod
    def _linear_time(cls, pattern: str | None) -> str | None:
        return None if pattern is None else check_pattern(pattern)

    def event_match(self, kind: str) -> EventMatch:
        """Which event names are of `kind` (one of EVENT_KINDS)."""
        names = frozenset([getattr(self, f"{kind}_event"), *getattr(self, f"{kind}_events")])
        return EventMatch(names, getattr(self, f"{kind}_event_pattern"))

    @field_validator("disabled")
    @classmethod
    def _known_signals(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in SIGNAL_NAMES:
                hint = did_you_mean(name, SIGNAL_NAMES)
                raise ValueError(f"unknown signal `{name}`{hint}; known: {', '.join(SIGNAL_NAMES)}")
        return names


@dataclass(frozen=True)
class EventMatch:
    """Event names given by name, and a pattern for the others."""

    names: frozenset[str]
    pattern: str | None = None

    def flags(self, event_names: np.ndarray) -> np.ndarray:
        """Whether each distinct event name matches: one test per name, never per event."""
        texts = [str(name) for name in event_names]
        hit = np.fromiter((t in self.names for t in texts), dtype=bool, count=len(texts))
        if self.pattern is not None:
            compiled = _compiled(self.pattern)
            hit |= np.fromiter((compiled.search(t) for t in texts), dtype=bool, count=len(texts))
        return hit


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> LinearPattern:
    return LinearPattern(pattern)


def event_positions(j: Journey, c: SignalsConfig, kind: str) -> np.ndarray:
    """Offsets of the events of `kind` (see `SignalsConfig.event_match`); computed once per batch."""
    match = c.event_match(kind)
    cache: dict[EventMatch, np.ndarray] = j.__dict__.setdefault("_match_positions", {})
    found = cache.get(match)
    if found is None:
        if not match.pattern and len(match.names) == 1:
            found = j.positions(next(iter(match.names)))
        else:
            lookup = np.append(match.flags(j.event_names), False)  # code -1 (no name) looks up False
            found = offsets(lookup[j.event])
        cache[match] = found
    return found


def _chain_position(link: np.ndarray) -> np.ndarray:
    """Position of each element in its chain, where `link[k]` says k continues k - 1."""
    index = np.arange(len(link))
    start = np.where(link, 0, index)
    np.maximum.accumulate(start, out=start)
    return index - start


def _follows(j: Journey, earlier: np.ndarray, later: np.ndarray, within_us: float) -> np.ndarray:
    """Pairs (earlier[k], later[k]) of one session, `later` at most `within_us` after."""
    return np.asarray((j.session[earlier] == j.session[later]) & (j.ts[later] - j.ts[earlier] <= within_us))


def _chained(j: Journey, at: np.ndarray, within_us: float) -> np.ndarray:
    """For at[1:]: same session as the previous offset, and at most `within_us` after it."""
    session, ts = j.session[at], j.ts[at]
    return np.asarray((session[1:] == session[:-1]) & (ts[1:] - ts[:-1] <= within_us))


def rage_clicks(j: Journey, c: SignalsConfig) -> np.ndarray:
    """Fires at the click that completes a burst of `rage_click_min_clicks` on one target."""
    clicks = event_positions(j, c, "click")
    if clicks.size < c.rage_click_min_clicks or j.target is None:
        return _NONE
    session, ts, target = j.session[clicks], j.ts[clicks], j.target[clicks]
    link = np.zeros(clicks.size, dtype=bool)
    link[1:] = (
        (session[1:] == session[:-1])
        & (target[1:] == target[:-1])
        & (ts[1:] - ts[:-1] < c.rage_click_max_interval_ms * _MS)
    )
    if j.x is not None and j.y is not None:
        x, y = j.x[clicks], j.y[clicks]
        distance = np.abs(x[1:] - x[:-1]) + np.abs(y[1:] - y[:-1])
        link[1:] &= ~(distance >= c.rage_click_max_distance_px)  # unknown positions do not break a burst
    fired: np.ndarray = clicks[_chain_position(link) == c.rage_click_min_clicks - 1]
    return fired


def dead_clicks(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A click whose next event comes over `dead_click_ms` later (a session's last event is not judged)."""
    clicks = event_positions(j, c, "click")
    fired: np.ndarray = clicks[j.gap_after[clicks] > c.dead_click_ms * _MS]
    return fired


def errors(j: Journey, c: SignalsConfig) -> np.ndarray:
    """Every error event."""
    fired: np.ndarray = event_positions(j, c, "error")
    return fired


def error_clicks(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A click followed by an error within `error_click_ms`."""
    clicks, errs = event_positions(j, c, "click"), event_positions(j, c, "error")
    if clicks.size == 0 or errs.size == 0:
        return _NONE
    following = np.searchsorted(errs, clicks, side="right")
    found = following < errs.size
    nxt = errs[np.minimum(following, errs.size - 1)]
    fired: np.ndarray = clicks[found & _follows(j, clicks, nxt, c.error_click_ms * _MS)]
    return fired


def quick_backs(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A visit left within `quick_back_s` to go back to the touchpoint before it (fires at that visit)."""
    visits = j.visit_starts
    if visits.size < 3:
        return _NONE
    tp, session, ts = j.touchpoint[visits], j.session[visits], j.ts[visits]
    back = (tp[2:] == tp[:-2]) & (session[2:] == session[:-2]) & (ts[2:] - ts[1:-1] <= c.quick_back_s * _S)
    fired: np.ndarray = visits[1:-1][back]
    return fired


def page_loops(j: Journey, c: SignalsConfig) -> np.ndarray:
    """The same page viewed `page_loop_min` times within `page_loop_window_s`; once per episode.

    A view is an arrival on a page or a `page_view_event` (a reload).
    """
    if j.page is None:
        return _NONE
    view = j.first.copy()
    view[1:] |= j.page[1:] != j.page[:-1]
    view[event_positions(j, c, "page_view")] = True
    views = offsets(view & (j.page >= 0))
    back = c.page_loop_min - 1
    if views.size <= back:
        return _NONE
    key = j.session[views] * (int(j.page.max()) + 1) + j.page[views]
    order = np.argsort(key, kind="stable")  # views of one page of one session, in time order
    views, key = views[order], key[order]
    full = np.zeros(views.size, dtype=bool)
    full[back:] = (key[back:] == key[:-back]) & (
        j.ts[views[back:]] - j.ts[views[:-back]] <= c.page_loop_window_s * _S
    )
    ongoing = np.zeros(views.size, dtype=bool)
    ongoing[1:] = full[:-1] & (key[1:] == key[:-1])
    fired: np.ndarray = np.sort(views[full & ~ongoing])
    return fired


def ping_pongs(j: Journey, c: SignalsConfig) -> np.ndarray:
    """`ping_pong_min` visits alternating between two touchpoints (A-B-A-B); once per episode."""
    visits = j.visit_starts
    if visits.size < 3:
        return _NONE
    tp, session = j.touchpoint[visits], j.session[visits]
    alternate = np.zeros(visits.size, dtype=bool)
    alternate[2:] = (tp[2:] == tp[:-2]) & (session[2:] == session[:-2])
    fired: np.ndarray = visits[alternate & (_chain_position(alternate) == c.ping_pong_min - 2)]
    return fired


def funnel_regressions(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A move back to an earlier funnel stage; fires at the stage left."""
    stage = j.stages[j.touchpoint]
    steps = offsets(stage >= 0)
    session, stage = j.session[steps], stage[steps]
    fired: np.ndarray = steps[:-1][(session[1:] == session[:-1]) & (stage[1:] < stage[:-1])]
    return fired


def no_result_searches(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A search whose `value` (number of results) is 0."""
    if j.value is None:
        return _NONE
    searches = event_positions(j, c, "search")
    fired: np.ndarray = searches[j.value[searches] == 0]
    return fired


def search_refinements(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A search within `search_refinement_s` of the session's previous search."""
    searches = event_positions(j, c, "search")
    fired: np.ndarray = searches[1:][_chained(j, searches, c.search_refinement_s * _S)]
    return fired


def slow_loads(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A load (`load_ms`) over `slow_load_ms`."""
    if j.load_ms is None:
        return _NONE
    fired: np.ndarray = offsets(j.load_ms > c.slow_load_ms)
    return fired


def stalls(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A pause over `stall_s` before the session's next event (fires at the event before it)."""
    fired: np.ndarray = offsets(j.gap_after > c.stall_s * _S)
    return fired


def repeated_submits(j: Journey, c: SignalsConfig) -> np.ndarray:
    """A submit within `repeated_submit_s` of the previous submit at the same touchpoint."""
    submits = event_positions(j, c, "submit")
    touchpoint = j.touchpoint[submits]
    same = touchpoint[1:] == touchpoint[:-1]
    fired: np.ndarray = submits[1:][same & _chained(j, submits, c.repeated_submit_s * _S)]
    return fired


@dataclass(frozen=True)
class Signal:
    name: str
    compute: Callable[[Journey, SignalsConfig], np.ndarray]
    # Optional event columns it cannot do without.
    requires: tuple[str, ...]
    # One-line meaning per touchpoint, formatted with `touchpoint` and the SignalsConfig fields.
    meaning: str
    # The event kinds (EVENT_KINDS) it looks for: with none of them in the data it never fires.
    kinds: tuple[str, ...] = ()


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "rage_clicks",
        rage_clicks,
        ("target",),
        "rage-click bursts at {touchpoint}: {rage_click_min_clicks}+ clicks on one target, each under "
        "{rage_click_max_interval_ms:g} ms and {rage_click_max_distance_px:g} px from the previous",
        kinds=("click",),
    ),
    Signal(
        "dead_clicks",
        dead_clicks,
        (),
        "clicks at {touchpoint} followed by nothing for over {dead_click_ms:g} ms",
        kinds=("click",),
    ),
    Signal("errors", errors, (), "error events at {touchpoint}", kinds=("error",)),
    Signal(
        "error_clicks",
        error_clicks,
        (),
        "clicks at {touchpoint} followed by an error within {error_click_ms:g} ms",
        kinds=("click", "error"),
    ),
    Signal(
        "quick_backs",
        quick_backs,
        (),
        "visits to {touchpoint} left within {quick_back_s:g} s to go back to the touchpoint before",
    ),
    Signal(
        "page_loops",
        page_loops,
        ("page",),
        "page loops at {touchpoint}: one page viewed {page_loop_min}+ times within {page_loop_window_s:g} s",
    ),
    Signal(
        "ping_pongs",
        ping_pongs,
        (),
        "ping-pong episodes reaching {touchpoint}: {ping_pong_min}+ visits alternating between two places",
    ),
    Signal(
        "funnel_regressions",
        funnel_regressions,
        (),
        "moves back from {touchpoint} to an earlier funnel stage",
    ),
    Signal(
        "no_result_searches",
        no_result_searches,
        ("value",),
        "searches at {touchpoint} that returned no results",
        kinds=("search",),
    ),
    Signal(
        "search_refinements",
        search_refinements,
        (),
        "searches at {touchpoint} within {search_refinement_s:g} s of the previous search",
        kinds=("search",),
    ),
    Signal("slow_loads", slow_loads, ("load_ms",), "loads at {touchpoint} slower than {slow_load_ms:g} ms"),
    Signal("stalls", stalls, (), "pauses of over {stall_s:g} s at {touchpoint} before the next event"),
    Signal(
        "repeated_submits",
        repeated_submits,
        (),
        "submits at {touchpoint} repeated within {repeated_submit_s:g} s",
        kinds=("submit",),
    ),
)
SIGNAL_NAMES: tuple[str, ...] = tuple(s.name for s in SIGNALS)


def select_signals(
    config: SignalsConfig, columns: Iterable[str]
) -> tuple[tuple[Signal, ...], dict[str, str]]:
    """The signals to compute on input with these columns, and the skipped ones with the reason."""
    present = set(columns)
    chosen: list[Signal] = []
    skipped: dict[str, str] = {}
    for signal in SIGNALS:
        missing = [col for col in signal.requires if col not in present]
        if signal.name in config.disabled:
            skipped[signal.name] = "disabled in [signals]"
        elif missing:
            skipped[signal.name] = f"missing column `{missing[0]}`"
        else:
            chosen.append(signal)
    return tuple(chosen), skipped
