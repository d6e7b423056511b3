"""Sessions: laying a batch of events out session by session, in time order.

Without `session_id`, a user's events start a new session after `gap_minutes` of
inactivity (the 30-minute convention of Google Analytics and Adobe) or once the session
has lasted `max_hours`. A derived id is `<user_id>:<start epoch microseconds>`: stable
and deterministic, whatever the batch, as long as the batch holds the user's whole
history up to that session. With `session_id`, sessions are used as given; rows that lack
it but have a user id (a GA4 row sent before `ga_session_id` was set, a Snowplow mobile row
whose session sits in a context) get the same derived sessions, cut among that user's rows
without a session id.

`lay_out` reads the input columns once (strings as integer codes of their distinct
values, numbers as float64, timestamps as epoch microseconds), sorts by (session, time)
only when the input is not already in that order, and orders events that share a
timestamp by their content, so the input row order never matters. A `Journey` is the
laid-out batch the friction signals and moment features work on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from features.errors import DataQualityError, SchemaError
from features.schema import did_you_mean
from features.section import Section

__all__ = [
    "MISSING_TIME",
    "Journey",
    "Layout",
    "SessionsConfig",
    "Table",
    "derived_session_ids",
    "lay_out",
    "lengths",
    "offsets",
    "run_starts",
    "split_sessions",
]

US_PER_S = 1_000_000
MISSING_TIME = int(np.iinfo(np.int64).min)  # NaT as epoch microseconds
STRING_COLUMNS = ("page", "target", "touchpoint")
FLOAT_COLUMNS = ("x", "y", "load_ms", "value")
_SMALL = 4096  # rows: below this, text columns given as arrays are encoded without Arrow


class SessionsConfig(Section):
    # Inactivity that ends a derived session.
    gap_minutes: float = Field(default=30.0, gt=0.0)
    # Longest derived session: the first event this long after the start opens a new one.
    max_hours: float = Field(default=24.0, gt=0.0)


class Table:
    """Read access to the columns of a DataFrame or of a mapping of column -> sequence."""

    def __init__(self, data: pd.DataFrame | Mapping[str, Any]) -> None:
        self._data = data
        self.names: tuple[str, ...] = tuple(
            str(c) for c in (data.columns if isinstance(data, pd.DataFrame) else data)
        )
        first = next(iter(self.names), None)
        self.n_rows = len(data) if isinstance(data, pd.DataFrame) else len(data[first]) if first else 0

    def raw(self, name: str) -> Any:
        return self._data[name]

    def require(self, *names: str) -> None:
        for name in names:
            if name not in self.names:
                hint = did_you_mean(name, self.names)
                raise SchemaError(
                    f"events lack the column `{name}`{hint}; they have: {', '.join(self.names)}"
                )

    def strings(self, name: str) -> pa.Array:
        """The column as one Arrow array (zero-copy for Arrow-backed text columns)."""
        values = self.raw(name)
        arrow = getattr(getattr(values, "array", None), "__arrow_array__", None)
        try:
            arr = arrow() if arrow is not None else pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(f"column `{name}` must hold text: {exc}") from None
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
        return arr

    def encode_all(self, names: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """`encode` for several columns; a few rows share one hash pass (the API's one session).

        Shared codes are still only compared within a column, so sharing changes nothing.
        A column holding one value throughout (ids and context in one session) needs none.
        """
        if not names or self.n_rows > _SMALL:
            return {name: self.encode(name) for name in names}
        values = {name: _objects(self.raw(name)) for name in names}
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, column in values.items():
            first = column[0] if len(column) else None
            if isinstance(first, str) and bool((column == first).all()):
                out[name] = (np.zeros(len(column), dtype=np.int64), np.array([first], dtype=object))
        varied = [name for name in names if name not in out]
        if varied:
            codes, uniques = pd.factorize(np.concatenate([values[name] for name in varied]))
            text = np.array([str(u) for u in uniques], dtype=object)
            per_column = codes.astype(np.int64).reshape(len(varied), self.n_rows)
            out |= {name: (per_column[i], text) for i, name in enumerate(varied)}
        return out

    def encode(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(code per row, -1 where missing; the distinct values as an object array of str)."""
        if self.n_rows <= _SMALL:
            return self.encode_all([name])[name]
        arr = self.strings(name)
        if not pa.types.is_dictionary(arr.type):
            if not _is_text(arr.type):
                arr = pc.cast(arr, pa.large_string())
            arr = arr.dictionary_encode()
        indices = arr.indices if arr.indices.null_count == 0 else arr.indices.fill_null(-1)
        dictionary = (
            arr.dictionary if _is_text(arr.dictionary.type) else pc.cast(arr.dictionary, pa.large_string())
        )
        codes = np.asarray(indices.to_numpy())  # Arrow's signed index type: int8 up to int64
        return codes, np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=object)

    def floats(self, name: str) -> np.ndarray:
        values = self.raw(name)
        try:
            if isinstance(values, pd.Series):
                if values.dtype == np.float64:
                    return values.to_numpy()  # a view: missing values are already NaN
                return values.to_numpy(dtype=np.float64, na_value=np.nan)
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise SchemaError(f"column `{name}` must be numeric") from None

    def timestamps(self, name: str, allow_missing: bool = False) -> np.ndarray:
        """Epoch microseconds (UTC); ISO 8601 text is parsed, naive times are taken as UTC."""
        values = self.raw(name)
        if not (isinstance(values, np.ndarray) and values.dtype.kind == "M"):
            series = values if isinstance(values, pd.Series) else pd.Series(values)
            if series.dtype.kind != "M":
                try:
                    series = pd.to_datetime(series, utc=True, format="ISO8601")
                except (TypeError, ValueError):
                    raise SchemaError(f"column `{name}` must hold timestamps (got {series.dtype})") from None
            values = series.to_numpy(dtype="datetime64[us]")  # tz-aware values come out in UTC
        us = np.asarray(values, dtype="datetime64[us]").view(np.int64)
        if not allow_missing and (missing := int((us == MISSING_TIME).sum())):
            raise DataQualityError(f"column `{name}` is empty on {missing} row(s)")
        return us


def offsets(mask: np.ndarray) -> np.ndarray:
    """Offsets where `mask` is True (np.flatnonzero without its wrapper overhead)."""
    return mask.nonzero()[0]


def _objects(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)
    return np.asarray(values, dtype=object)


def lengths(starts: np.ndarray, n_rows: int) -> np.ndarray:
    """Rows per segment, from the segments' start offsets."""
    out = np.empty_like(starts)
    out[:-1] = starts[1:] - starts[:-1]
    out[-1:] = n_rows - starts[-1:]
    return out


def run_starts(values: np.ndarray) -> np.ndarray:
    """True where a run of equal values begins (at 0 and wherever the value changes)."""
    out = np.empty(len(values), dtype=bool)
    out[:1] = True
    np.not_equal(values[1:], values[:-1], out=out[1:])
    return out


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def split_sessions(user_start: np.ndarray, ts: np.ndarray, config: SessionsConfig) -> np.ndarray:
    """Flag the events that open a session, given events sorted by (user, time).

    `user_start` flags each user's first event. The `max_hours` cut depends on where the
    session began, so it is applied in rounds: each round opens one new session in every
    session still too long (most batches need none or one round).
    """
    gap = round(config.gap_minutes * 60 * US_PER_S)
    longest = round(config.max_hours * 3600 * US_PER_S)
    new = user_start.copy()
    new[1:] |= (ts[1:] - ts[:-1]) > gap
    while True:
        opens = offsets(new)
        session = np.cumsum(new) - 1
        over = offsets(ts - ts[opens][session] >= longest)
        if over.size == 0:
            return new
        first_over = over[run_starts(session[over])]
        new[first_over] = True


def derived_session_ids(user_ids: np.ndarray, start_us: np.ndarray) -> np.ndarray:
    """`<user_id>:<start epoch microseconds>` for sessions derived from user activity."""
    users = pa.array(user_ids, type=pa.large_string())
    starts = pc.cast(pa.array(start_us), pa.large_string())
    joined = pc.binary_join_element_wise(users, starts, pa.scalar(":", pa.large_string()))
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _session_of(starts: np.ndarray, n_rows: int) -> np.ndarray:
    return np.repeat(np.arange(len(starts)), lengths(starts, n_rows))


@dataclass(frozen=True, eq=False)
class Layout:
    """A batch's rows in session-then-time order, with one entry per session for ids."""

    n_rows: int
    starts: np.ndarray  # offset of each session's first row
    ts: np.ndarray
    event: np.ndarray
    event_names: np.ndarray
    codes: dict[str, np.ndarray]  # string columns: codes, -1 missing
    uniques: dict[str, np.ndarray]
    floats: dict[str, np.ndarray]
    session_ids: np.ndarray  # object, per session
    session_users: np.ndarray  # object, per session, None when unknown

    @cached_property
    def session(self) -> np.ndarray:
        return _session_of(self.starts, self.n_rows)

    def compress(self, keep: np.ndarray, alive: np.ndarray) -> Layout:
        """Only the rows in `keep`; `alive` lists the sessions that still have rows."""
        kept_session = self.session[keep]
        starts = offsets(run_starts(kept_session)) if kept_session.size else kept_session
        return replace(
            self,
            n_rows=int(keep.sum()),
            starts=starts,
            ts=self.ts[keep],
            event=self.event[keep],
            codes={name: c[keep] for name, c in self.codes.items()},
            floats={name: v[keep] for name, v in self.floats.items()},
            session_ids=self.session_ids[alive],
            session_users=self.session_users[alive],
        )

    def first_values(self, name: str) -> np.ndarray:
        """Per session, the first non-missing value of string column `name` (None if none)."""
        return _first_per_session(self.codes[name], self.uniques[name], self.starts, self.n_rows)


def _first_per_session(codes: np.ndarray, uniques: np.ndarray, starts: np.ndarray, n_rows: int) -> np.ndarray:
    at_start = codes[starts]
    if (at_start >= 0).all():  # the usual case: every session's first row has a value
        return np.asarray(uniques[at_start], dtype=object)
    present = offsets(codes >= 0)
    at = np.searchsorted(present, starts)
    ends = np.empty_like(starts)
    ends[:-1], ends[-1:] = starts[1:], n_rows
    found = at < present.size
    found[found] &= present[at[found]] < ends[found]
    out = np.full(len(starts), None, dtype=object)
    out[found] = uniques[codes[present[at[found]]]]
    return out


def _ranks(codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    """Codes replaced by the rank of their value in sorted order (-1 stays -1)."""
    rank = np.empty(len(uniques) + 1, dtype=np.int64)
    rank[np.argsort(uniques.astype(str), kind="stable")] = np.arange(len(uniques))
    rank[-1] = -1
    return np.asarray(rank[codes])


class _Order:
    """A row order: None is the input order; `patch` reorders a few rows of it."""

    def __init__(self, perm: np.ndarray | None) -> None:
        self.perm = perm
        self.patch: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, values: np.ndarray) -> np.ndarray:
        if self.perm is not None:
            return np.asarray(values[self.perm])
        if self.patch is None:
            return values
        rows, sources = self.patch
        out = values.copy()
        out[rows] = values[sources]
        return out


def _order(group: np.ndarray, ts: np.ndarray) -> _Order:
    """Rows by (group, time), stable; None when each group is one run already in time order."""
    change = run_starts(group)
    runs = group[change]
    if int(np.bincount(runs).max()) <= 1 and bool(np.all((ts[1:] >= ts[:-1]) | change[1:])):
        return _Order(None)
    span = int(ts.max() - ts.min()) + 1
    if int(group.max()) + 1 < np.iinfo(np.int64).max // span:
        return _Order(np.argsort(group.astype(np.int64) * span + (ts - ts.min()), kind="stable"))
    return _Order(np.lexsort((ts, group)))


def _break_ties(
    order: _Order, group: np.ndarray, ts: np.ndarray, keys: Callable[[], Sequence[np.ndarray]]
) -> None:
    """Order events of one group sharing a timestamp by their content (`keys()`, one per column)."""
    g, t = order.take(group), order.take(ts)
    same = (g[1:] == g[:-1]) & (t[1:] == t[:-1])
    if not same.any():
        return
    tied = np.zeros(len(g), dtype=bool)
    tied[1:] |= same
    tied[:-1] |= same
    rows = offsets(tied)
    block = np.cumsum(~np.concatenate(([False], same)))[rows]
    sources = rows if order.perm is None else order.perm[rows]
    perm = np.lexsort((*(key[sources] for key in reversed(keys())), block))
    if order.perm is None:
        order.patch = (rows, rows[perm])
    else:
        order.perm[rows] = sources[perm]


def lay_out(
    table: Table, config: SessionsConfig, context: Sequence[str] = (), label_column: str | None = None
) -> Layout:
    """Read the event columns once and lay the rows out session by session in time order."""
    table.require("timestamp", "event")
    has_session, has_user = "session_id" in table.names, "user_id" in table.names
    if not (has_session or has_user):
        hint = did_you_mean("session_id", table.names) or did_you_mean("user_id", table.names)
        raise SchemaError(f"events need `session_id` or `user_id`{hint}; they have: {', '.join(table.names)}")
    ts = table.timestamps("timestamp")
    strings = [
        name for name in ("event", "session_id", "user_id", *STRING_COLUMNS, *context) if name in table.names
    ]
    encoded = table.encode_all(strings)
    floats = {
        name: table.floats(name) for name in (*FLOAT_COLUMNS, label_column) if name and name in table.names
    }
    group_name = "session_id" if has_session else "user_id"
    if has_session and has_user:
        encoded["session_id"] = _fill_sessions(encoded["session_id"], encoded["user_id"], ts, config)
    for name in ("event", group_name):
        if (missing := int((encoded[name][0] < 0).sum())) > 0:
            raise DataQualityError(f"column `{name}` is empty on {missing} row(s)")
    group = encoded[group_name][0]
    order = _order(group, ts) if table.n_rows else _Order(None)
    if table.n_rows:
        content = [name for name in strings if name != group_name]
        _break_ties(order, group, ts, lambda: [_ranks(*encoded[n]) for n in content] + list(floats.values()))
    ts = order.take(ts)
    group, group_names = order.take(group), encoded.pop(group_name)[1]
    group_start = run_starts(group)
    if has_session:
        starts = offsets(group_start)
        session_ids = group_names[group[starts]]
    else:
        starts = offsets(split_sessions(group_start, ts, config))
        session_ids = derived_session_ids(group_names[group[starts]], ts[starts])
    if has_session and has_user:
        user_codes, user_names = encoded.pop("user_id")
        users = _first_per_session(order.take(user_codes), user_names, starts, table.n_rows)
    elif has_user:
        users = np.asarray(group_names[group[starts]], dtype=object)
    else:
        users = np.full(len(starts), None, dtype=object)
    event, event_names = encoded.pop("event")
    return Layout(
        n_rows=table.n_rows,
        starts=starts,
        ts=ts,
        event=order.take(event),
        event_names=event_names,
        codes={name: order.take(c) for name, (c, _) in encoded.items()},
        uniques={name: u for name, (_, u) in encoded.items()},
        floats={name: order.take(v) for name, v in floats.items()},
        session_ids=np.asarray(session_ids, dtype=object),
        session_users=users,
    )


def _fill_sessions(
    sessions: tuple[np.ndarray, np.ndarray],
    users: tuple[np.ndarray, np.ndarray],
    ts: np.ndarray,
    config: SessionsConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Session codes with derived sessions where the id is missing and the user is known."""
    codes, names = sessions
    user_codes, user_names = users
    rows = offsets((codes < 0) & (user_codes >= 0))
    if rows.size == 0:
        return sessions
    by_user = np.lexsort((ts[rows], user_codes[rows]))
    rows = rows[by_user]
    user, times = user_codes[rows], ts[rows]
    opens = split_sessions(run_starts(user), times, config)
    starts = offsets(opens)
    filled = codes.astype(np.int64)
    filled[rows] = len(names) + np.cumsum(opens) - 1
    derived = derived_session_ids(user_names[user[starts]], times[starts])
    return filled, np.concatenate([names, derived])


@dataclass(frozen=True, eq=False)
class Journey:
    """A batch's journey events, session by session in time order (flat numpy arrays).

    Codes index their `*_names`/`touchpoints` arrays; -1 marks a missing value. Optional
    columns are None when the input did not have them.
    """

    starts: np.ndarray  # offset of each session's first event
    ts: np.ndarray  # int64 epoch microseconds
    event: np.ndarray
    event_names: np.ndarray
    touchpoint: np.ndarray
    touchpoints: tuple[str, ...]
    stages: np.ndarray  # funnel stage of each touchpoint code, -1 off the funnel
    page: np.ndarray | None = None
    target: np.ndarray | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    load_ms: np.ndarray | None = None
    value: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        return len(self.ts)

    @property
    def n_sessions(self) -> int:
        return len(self.starts)

    @cached_property
    def session(self) -> np.ndarray:
        """Session index of each event."""
        return np.repeat(np.arange(self.n_sessions), lengths(self.starts, self.n_events))

    @cached_property
    def first(self) -> np.ndarray:
        """True at each session's first event."""
        flags = np.zeros(self.n_events, dtype=bool)
        flags[self.starts] = True
        return flags

    @cached_property
    def ends(self) -> np.ndarray:
        """Offset of each session's last event."""
        ends = np.empty_like(self.starts)
        ends[:-1], ends[-1:] = self.starts[1:] - 1, self.n_events - 1
        return ends

    @cached_property
    def gap_after(self) -> np.ndarray:
        """Microseconds to the next event of the same session; 0 after a session's last event."""
        gaps = np.zeros(self.n_events, dtype=np.int64)
        np.subtract(self.ts[1:], self.ts[:-1], out=gaps[:-1])
        gaps[self.ends] = 0
        return gaps

    @cached_property
    def visit_starts(self) -> np.ndarray:
        """Offsets of the first event of each visit: a run of events at one touchpoint."""
        changed = self.first.copy()
        changed[1:] |= self.touchpoint[1:] != self.touchpoint[:-1]
        return offsets(changed)

    @cached_property
    def _event_code(self) -> dict[str, int]:
        return {str(name): code for code, name in enumerate(self.event_names)}

    def positions(self, name: str) -> np.ndarray:
        """Offsets of the events named `name` (empty when the batch has none); computed once."""
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_positions", {})
        found = cache.get(name)
        if found is None:
            code = self._event_code.get(name)
            found = offsets(self.event == code) if code is not None else np.empty(0, dtype=np.int64)
            cache[name] = found
        return found
