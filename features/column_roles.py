"""Which raw column plays which canonical role, guessed from a sample of an export.

`infer_roles` looks at each column's name (its words, see features/tokens.py) and at its
values: a timestamp must parse as one, a page must look like a path or URL, x and y must be
numbers, a context column must be of low cardinality and constant within a session. Each
guess carries its evidence as a sentence for the drafted `friction.toml`. Pure: a frame in,
a result out; `friction init` reads the sample (pipelines/init_job.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from features.config import TimestampUnit
from features.events import RAW_LINE_COLUMN, READ_ERROR_COLUMN, parse_timestamps
from features.tokens import joined_pairs, tokens

__all__ = ["ColumnGuess", "ColumnRoles", "data_columns", "infer_roles"]

# Epoch magnitudes of 2000-01-01 .. 2100-01-01 in each unit.
_EPOCH_UNITS: tuple[tuple[TimestampUnit, float, float], ...] = (
    ("s", 9.46e8, 4.11e9),
    ("ms", 9.46e11, 4.11e12),
    ("us", 9.46e14, 4.11e15),
    ("ns", 9.46e17, 4.11e18),
)
_CONTEXT_MAX_DISTINCT = 50
_CONTEXT_CONSTANT_SHARE = 0.99  # of sessions with one value only
_EVENT_MAX_DISTINCT = 5_000
# Rows whose values the type checks read: the kind of values shows in a few thousand rows.
_PROBE_ROWS = 5_000


@dataclass(frozen=True)
class ColumnGuess:
    raw: str
    evidence: str


@dataclass(frozen=True)
class ColumnRoles:
    """Canonical column -> its raw column; context columns; columns that help other guesses."""

    columns: dict[str, ColumnGuess]
    timestamp_unit: TimestampUnit = "auto"
    context: list[ColumnGuess] = field(default_factory=list)
    # An HTTP status per event (errors are its values >= 400), and survey-like score columns.
    status: ColumnGuess | None = None
    scores: list[ColumnGuess] = field(default_factory=list)


def _words(name: str) -> frozenset[str]:
    return frozenset(joined_pairs(tokens(name)))


def _scalar(values: pd.Series) -> bool:
    """False for nested values (lists, structs), which no role takes."""
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_nested(values.dtype.pyarrow_dtype):
        return False
    try:
        values.head(100).nunique()
    except TypeError:  # dicts or lists in an object column
        return False
    return True


def _numbers(values: pd.Series) -> pd.Series | None:
    """The values as floats when at least 95 % of the given ones are numbers, else None."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    given = values.dropna()
    if given.empty:
        return None
    numbers = pd.to_numeric(given.astype("str"), errors="coerce")
    return numbers if numbers.notna().mean() >= 0.95 else None


def _epoch_unit(numbers: pd.Series) -> TimestampUnit | None:
    median = float(np.nanmedian(np.abs(numbers.to_numpy()))) if numbers.notna().any() else np.nan
    for unit, low, high in _EPOCH_UNITS:
        if low <= median < high:
            return unit
    return None


def _timestamp(values: pd.Series) -> tuple[float, TimestampUnit, str] | None:
    """Share of values that parse as a time, the unit of numeric epochs, and how they read."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return float(values.notna().mean()), "auto", "date-time values"
    numbers = _numbers(values)
    if numbers is not None:
        unit = _epoch_unit(numbers)
        if unit is None:
            return None
        return float(numbers.notna().mean()), unit, f"epoch numbers in {unit}"
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return None
    parsed = parse_timestamps(values.reset_index(drop=True))
    share = float(parsed.notna().mean())
    return (share, "auto", "date-time text") if share >= 0.5 else None


def _paths(values: pd.Series) -> float:
    """Share of the given values that read as a URL path or URL."""
    text = values.dropna().astype("str")
    if text.empty:
        return 0.0
    return float(text.str.match(r"^(/|https?://)").mean())


def _text_like(values: pd.Series) -> bool:
    return (
        pd.api.types.is_string_dtype(values.dtype)
        or isinstance(values.dtype, pd.CategoricalDtype)
        or values.dtype == object
    )


def _id_like(values: pd.Series) -> bool:
    return _text_like(values) or pd.api.types.is_integer_dtype(values.dtype)


@dataclass(frozen=True)
class _Role:
    name: str
    words: tuple[str, ...]  # the first one a column's name holds ranks it; earlier is better
    check: Callable[[pd.Series], bool]
    # Ids: the name must also say `id` (`customer_type` is no user id), unless it is one word.
    needs_id: bool = False

    def rank(self, column: str) -> int | None:
        words = _words(column)
        hits = [k for k, word in enumerate(self.words) if word in words]
        if not hits:
            return None
        if self.needs_id and len(tokens(column)) > 1 and not words & _ID_WORDS:
            return None
        return min(hits)


_ROLES: tuple[_Role, ...] = (
    _Role("session_id", ("sessionid", "session", "visitid", "visit", "sid"), _id_like, needs_id=True),
    _Role(
        "user_id",
        ("userid", "user", "uid", "anonymous", "visitor", "customer", "client", "member"),
        _id_like,
        needs_id=True,
    ),
    _Role(
        "event",
        ("event", "eventname", "events", "action", "activity", "interaction", "name", "type"),
        lambda v: _text_like(v) and v.nunique() <= min(_EVENT_MAX_DISTINCT, max(50, len(v) // 5)),
    ),
    _Role(
        "page",
        ("page", "url", "path", "pathname", "uri", "location", "route", "href"),
        lambda v: _text_like(v) and _paths(v) >= 0.5,
    ),
    _Role(
        "target",
        ("target", "element", "selector", "button", "component", "xpath", "css", "link"),
        _text_like,
    ),
    _Role("x", ("x",), lambda v: _numbers(v) is not None),
    _Role("y", ("y",), lambda v: _numbers(v) is not None),
    _Role(
        "load_ms",
        ("loadms", "load", "loadtime", "latency", "ttfb", "lcp", "duration", "response"),
        lambda v: (n := _numbers(v)) is not None and bool((n.dropna() >= 0).all()),
    ),
    _Role(
        "value",
        ("value", "revenue", "amount", "price", "total", "results", "quantity"),
        lambda v: _numbers(v) is not None,
    ),
)
_ID_WORDS = frozenset({"id", "uid", "sid", "key", "sessionid", "userid", "visitid"})
_STATUS_WORDS = frozenset({"status", "statuscode", "http", "code"})
_SCORE_WORDS = frozenset({"csat", "nps", "rating", "score", "satisfaction", "survey", "stars"})
_NOT_CONTEXT_WORDS = frozenset({"id", "timestamp", "time", "date", "tstamp"})


def _distinct(values: pd.Series) -> str:
    return f"{values.nunique():,} distinct over {len(values):,} rows"


def data_columns(raw: pd.DataFrame) -> list[str]:
    """The export's own columns, without those the readers add (unreadable rows)."""
    return [str(name) for name in raw.columns if name not in (READ_ERROR_COLUMN, RAW_LINE_COLUMN)]


def infer_roles(raw: pd.DataFrame) -> ColumnRoles:
    """Guess each canonical column's raw column in `raw` (a sample), with the evidence."""
    usable = [name for name in data_columns(raw) if _scalar(raw[name])]
    probe = raw.iloc[:: max(1, len(raw) // _PROBE_ROWS)]
    taken: set[str] = set()
    columns: dict[str, ColumnGuess] = {}
    unit: TimestampUnit = "auto"

    best: tuple[float, str, TimestampUnit, str] | None = None
    for name in usable:
        found = _timestamp(probe[name])
        if found is None:
            continue
        share, found_unit, how = found
        named = bool(_words(name) & {"timestamp", "time", "ts", "tstamp", "date", "datetime", "at", "when"})
        score = share + (1.0 if named else 0.0)
        if best is None or score > best[0]:
            best = (score, name, found_unit, f"{how}, {share:.0%} of them parse")
    if best is not None:
        _, name, unit, evidence = best
        columns["timestamp"] = ColumnGuess(name, f"`{name}`: {evidence}")
        taken.add(name)

    for role in _ROLES:
        ranked = [(rank, n) for n in usable if n not in taken and (rank := role.rank(n)) is not None]
        # An exact name (`event`, `page`) first, then the best word, then the fewest extra words.
        ranked.sort(key=lambda r: (r[1].lower() != role.name, r[0], len(tokens(r[1])), r[1]))
        for _, name in ranked:
            if role.name == "user_id" and _words(name) & {"session", "sessionid"}:
                continue
            if role.check(probe[name]):
                columns[role.name] = ColumnGuess(name, f"`{name}`: its name, {_distinct(raw[name])}")
                taken.add(name)
                break

    status = _status(probe, usable, taken)
    score_columns = [
        n
        for n in usable
        if n not in taken and _words(n) & _SCORE_WORDS and pd.api.types.is_numeric_dtype(raw[n].dtype)
    ]
    group = columns.get("session_id", columns.get("user_id"))
    scores = [_score(raw, n, group.raw if group else None) for n in score_columns]
    taken |= {g.raw for g in scores} | ({status.raw} if status else set())
    context = _context(raw, [n for n in usable if n not in taken], group.raw if group else None)
    return ColumnRoles(columns=columns, timestamp_unit=unit, context=context, status=status, scores=scores)


def _score(raw: pd.DataFrame, name: str, group: str | None) -> ColumnGuess:
    """A survey-like score column, with the share of sessions that gave a low score: at most 2
    on a scale up to 5 (CSAT), at most 6 on one up to 10 (NPS)."""
    values = raw[name]
    top = float(values.max())
    evidence = f"`{name}`: its name, numbers from {values.min():g} to {top:g}"
    threshold = 2.0 if top <= 5 else 6.0 if top <= 10 else None
    if threshold is None or group is None:
        return ColumnGuess(name, evidence)
    low = (values <= threshold).groupby(raw[group].to_numpy()).any()
    return ColumnGuess(name, f"{evidence}; <= {threshold:g} in {float(low.mean()):.1%} of sessions")


def _status(raw: pd.DataFrame, usable: list[str], taken: set[str]) -> ColumnGuess | None:
    for name in usable:
        if name in taken or not _words(name) & _STATUS_WORDS:
            continue
        numbers = _numbers(raw[name])
        if numbers is None or numbers.dropna().empty:
            continue
        given = numbers.dropna()
        if ((given >= 100) & (given <= 599)).mean() >= 0.95:
            share = float((given >= 400).mean())
            return ColumnGuess(name, f"`{name}`: HTTP status codes, {share:.1%} of them >= 400")
    return None


def _context(raw: pd.DataFrame, names: list[str], group: str | None) -> list[ColumnGuess]:
    """Low-cardinality text columns that do not change within a session (or user)."""
    if group is None:
        return []
    found: list[ColumnGuess] = []
    for name in names:
        values = raw[name]
        if not (_text_like(values) or pd.api.types.is_bool_dtype(values.dtype)):
            continue
        if _words(name) & _NOT_CONTEXT_WORDS:
            continue
        distinct = values.nunique()
        if not 2 <= distinct <= _CONTEXT_MAX_DISTINCT:
            continue
        per_group = pd.DataFrame({"g": raw[group], "v": values}).dropna().groupby("g", observed=True)["v"]
        constant = float((per_group.nunique() <= 1).mean())
        if constant >= _CONTEXT_CONSTANT_SHARE:
            found.append(
                ColumnGuess(name, f"`{name}`: {distinct} values, constant within {constant:.1%} of sessions")
            )
    return found
