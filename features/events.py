"""The adapter: a raw events frame -> the canonical frame, and a quarantine of bad rows.

Columns are found through the preset and `[events]` (features/presets.py); a missing one is
a `SchemaError` with a "did you mean" hint. Rows are then checked with vectorized masks, and
every row that fails a check goes to the quarantine with its raw values as text, its
position in the input (`source_row`) and a `reason`. A row with neither a session id nor
a user id (a cookieless or consent-mode ping) is not broken, but no session can hold it:
it is *unidentifiable*, written to the quarantine too (reason `unidentifiable: ...`) but
counted apart and left out of the bad-row rate, which is for broken rows. No row is
dropped silently:

    rows_in == rows_kept + rows_quarantined + rows_unidentifiable

A row with a user id but no session id is kept: sessions are derived for it from the
inactivity gap within its user (features/sessions.py).

Timestamps become `datetime64[us, UTC]`: ISO 8601 strings (naive = UTC, offsets converted),
epoch numbers or numeric strings, datetimes (naive = UTC), and any other form pandas reads
(BigQuery's `2020-11-01 00:54:33.036492 UTC`, RFC 2822...). With `timestamp_unit = "auto"`
the unit of each epoch value comes from its magnitude |v|:

    |v| < 1e11  seconds        (1e11 s  is year 5138)
    |v| < 1e14  milliseconds   (1e11 ms is 1973-03-03, 1e14 ms is year 5138)
    |v| < 1e17  microseconds   (likewise)
    otherwise   nanoseconds

so any instant between 1973-03-03 and 5138 reads right whatever its unit.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import EventsConfig, TimestampUnit
from features.errors import DataQualityError, SchemaError
from features.presets import ColumnPlan, nested_field, plan_columns
from features.schema import NUMERIC_COLUMNS, STRING_COLUMNS, TIMESTAMP_DTYPE, did_you_mean

__all__ = [
    "RAW_LINE_COLUMN",
    "READ_ERROR_COLUMN",
    "NormalizeSummary",
    "NormalizedEvents",
    "check_bad_row_rate",
    "normalize_events",
    "parse_timestamps",
]

# A reader that cannot parse a row keeps it as a row with these two columns filled.
READ_ERROR_COLUMN = "_friction_read_error"
RAW_LINE_COLUMN = "_friction_raw_line"

_AUTO_UNITS = ((1e11, 1e6), (1e14, 1e3), (1e17, 1.0))  # |v| below -> microseconds per unit
_SCALE = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
_URL_ORIGIN = r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*"
_SHOWN = 60  # characters of a bad value quoted in its reason
_DIGIT_DATE = r"^\s*\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"  # 03/01/2024: day or month first?
UNIDENTIFIABLE = "unidentifiable"  # the problem name of rows with neither id

_Reason = Callable[[np.ndarray], "pd.Series"]  # bad row positions -> their reason text
_Check = tuple[str, np.ndarray, _Reason]  # (problem, rows failing it, reason)


@dataclass(frozen=True)
class NormalizeSummary:
    rows_in: int
    rows_kept: int
    rows_quarantined: int  # broken rows: they count toward the bad-row rate
    problems: Mapping[str, int] = field(default_factory=dict)  # check -> rows failing it
    rows_unidentifiable: int = 0  # neither id, otherwise sound: in the quarantine file, not the rate

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_kept + self.rows_quarantined + self.rows_unidentifiable:
            raise ValueError(f"rows do not add up: {self}")

    @property
    def bad_row_rate(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0


@dataclass(frozen=True)
class NormalizedEvents:
    events: pd.DataFrame  # canonical columns, input order, fresh RangeIndex
    # source_row, reason, every raw column as text, raw_line if unreadable; broken rows and
    # unidentifiable ones (their reason starts with "unidentifiable")
    quarantine: pd.DataFrame
    summary: NormalizeSummary


def normalize_events(raw: pd.DataFrame, config: EventsConfig) -> NormalizedEvents:
    """Map, type and check a raw events frame (left untouched).

    `source_row` in the quarantine is the raw frame's index label when the index is made of
    integers (the readers number rows from 0 in file order), else the row's position.
    """
    plan = plan_columns(config)
    frame = raw.reset_index(drop=True)  # positional; no data is copied
    found, context = _find_columns(frame, plan)
    checks: list[_Check] = []
    read_error = np.zeros(len(frame), dtype=bool)
    if READ_ERROR_COLUMN in frame.columns:
        errors = frame[READ_ERROR_COLUMN]
        read_error = _present(errors)
        checks.append(("unreadable row", read_error, lambda rows: errors.iloc[rows]))

    typed: dict[str, pd.Series] = {
        name: _text(found[name]) for name in ("session_id", "user_id") if name in found
    }
    no_id = np.logical_and.reduce([ids.isna().to_numpy() for ids in typed.values()])
    unidentifiable_reason = f"{UNIDENTIFIABLE}: no {' and no '.join(typed)}"

    typed["timestamp"] = parse_timestamps(found["timestamp"], plan.timestamp_unit)
    given = _present(found["timestamp"])
    unparsed = typed["timestamp"].isna().to_numpy()
    checks.append(("missing timestamp", unparsed & ~given, _said("missing timestamp")))
    checks.append(
        ("unparseable timestamp", unparsed & given, _quoted("unparseable timestamp", found["timestamp"]))
    )

    typed["event"] = _text(found["event"])
    checks.append(("missing event", typed["event"].isna().to_numpy(), _said("missing event name")))

    typed |= {name: _text(found[name]) for name in STRING_COLUMNS if name in found and name not in typed}
    if "page" in typed:
        typed["page"] = _url_path(typed["page"])
    for name in NUMERIC_COLUMNS:
        if name in found:
            typed[name], invalid = _number(found[name])
            checks.append((f"non-numeric {name}", invalid, _quoted(f"non-numeric {name}", found[name])))
    if "load_ms" in typed:
        negative = (typed["load_ms"] < 0).to_numpy()
        checks.append(("negative load_ms", negative, _quoted("negative load_ms", found["load_ms"])))
    typed |= {name: _text(values) for name, values in context.items()}

    # An unreadable row fails every other check too: its read error is its only reason.
    checks = [(c, mask if c == "unreadable row" else mask & ~read_error, why) for c, mask, why in checks]
    broken = np.logical_or.reduce([mask for _, mask, _ in checks])
    # A broken row without ids counts as broken; only a sound row is merely unidentifiable.
    unidentifiable = no_id & ~broken
    checks.append((UNIDENTIFIABLE, unidentifiable, _said(unidentifiable_reason)))
    bad = broken | unidentifiable
    events = pd.DataFrame({name: typed[name] for name in _ordered(typed)}).loc[~bad].reset_index(drop=True)
    quarantine = _quarantine(raw, frame, bad, checks)
    problems = {c: int(mask.sum()) for c, mask, _ in checks if mask.any() and c != UNIDENTIFIABLE}
    summary = NormalizeSummary(
        len(frame), len(events), int(broken.sum()), problems, rows_unidentifiable=int(unidentifiable.sum())
    )
    return NormalizedEvents(events=events, quarantine=quarantine, summary=summary)


def check_bad_row_rate(summary: NormalizeSummary, max_rate: float, *, quarantine: str | None = None) -> None:
    """Fail when the share of quarantined rows is over `quality.max_bad_row_rate`."""
    if summary.bad_row_rate <= max_rate:
        return
    worst = ", ".join(f"{c}: {k}" for c, k in sorted(summary.problems.items(), key=lambda p: -p[1]))
    where = f"; each has its reason in {quarantine}" if quarantine else ""
    raise DataQualityError(
        f"{summary.rows_quarantined:,} of {summary.rows_in:,} rows are malformed "
        f"({summary.bad_row_rate:.2%}), over the limit quality.max_bad_row_rate = {max_rate:.2%} "
        f"({worst}){where}; fix the input or raise the limit in friction.toml"
    )


def parse_timestamps(values: pd.Series, unit: TimestampUnit = "auto") -> pd.Series:
    """Any supported timestamp form -> `datetime64[us, UTC]`, NaT where unparseable."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = values.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        parsed = _from_epoch(values, unit)
    else:
        parsed = _from_text(_text(values), unit)
    return _positional(parsed.dt.as_unit("us"))


def _from_text(text: pd.Series, unit: TimestampUnit) -> pd.Series:
    numeric = _number_mask(text)
    parsed = pd.Series(pd.NaT, index=text.index, dtype=TIMESTAMP_DTYPE)
    if numeric.any():
        numbers = pc.cast(pa.array(text[numeric]), pa.float64())
        parsed[numeric] = _from_epoch(pd.Series(numbers.to_numpy(), index=text.index[numeric]), unit)
    rest = ~numeric & text.notna().to_numpy()
    if rest.any():
        parsed[rest] = pd.to_datetime(text[rest], format="ISO8601", utc=True, errors="coerce").dt.as_unit(
            "us"
        )
        other = rest & parsed.isna().to_numpy()
        if other.any():
            parsed[other] = _any_form(text[other])
    return parsed


def _any_form(text: pd.Series) -> pd.Series:
    """Timestamps ISO 8601 cannot read, in any other form pandas reads (`... UTC`, RFC 2822),
    parsed once per distinct value. Day and month in digits (`03/01/2024`) stay NaT: which
    comes first cannot be told from one value, and a value without a four-digit year
    (`12:00`) is no point in time."""
    codes, distinct = pd.factorize(text)
    values = pd.Series(distinct, dtype=object)
    dated = values.str.contains(r"\d{4}") & ~values.str.match(_DIGIT_DATE)
    values = values.where(dated.fillna(False).astype(bool))
    with warnings.catch_warnings():  # pandas warns that it guesses each value's format: it is meant to
        warnings.simplefilter("ignore", UserWarning)
        stamps = pd.to_datetime(values, format="mixed", utc=True, errors="coerce")
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):  # all NaT: pandas leaves it naive
        stamps = stamps.dt.tz_localize("UTC")
    none = pd.Series([pd.NaT], dtype=TIMESTAMP_DTYPE)
    stamps = pd.concat([stamps.dt.as_unit("us"), none], ignore_index=True)
    return stamps.take(np.where(codes < 0, len(distinct), codes)).set_axis(text.index)


def _from_epoch(values: pd.Series, unit: TimestampUnit) -> pd.Series:
    floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if unit == "auto":
        magnitude = np.abs(floats)
        scale = np.select([magnitude < limit for limit, _ in _AUTO_UNITS], [s for _, s in _AUTO_UNITS], 1e-3)
    else:
        scale = np.full(len(floats), _SCALE[unit])
    micros = floats * scale  # exact for epoch microseconds up to year 2255
    valid = np.isfinite(micros) & (np.abs(micros) < 2.0**62)
    whole = np.round(np.where(valid, micros, 0.0)).astype(np.int64)
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        # Integer arithmetic keeps every digit of nanosecond epochs (beyond float64's 2**53).
        ints = values.to_numpy(dtype=np.int64)
        per_unit = np.where(scale >= 1, scale, 1).astype(np.int64)
        whole = np.where(valid, np.where(scale >= 1, ints * per_unit, ints // 1000), 0)
    stamps = whole.view("datetime64[us]").copy()
    stamps[~valid] = np.datetime64("NaT")
    return pd.Series(stamps, index=values.index).dt.tz_localize("UTC")


def _number(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """float64 values (missing stays NaN) and the mask of given values that are not finite numbers."""
    dtype = values.dtype
    if pd.api.types.is_numeric_dtype(dtype):
        numbers = _positional(values.astype("float64"))
    elif isinstance(dtype, pd.StringDtype):
        text = values.str.strip()
        text = _positional(text.where(text != ""))
        try:  # the usual case, every value a number: one cast, no regex
            numbers = pd.Series(pc.cast(pa.array(text), pa.float64()).to_numpy(zero_copy_only=False))
        except pa.ArrowInvalid:
            numeric = _number_mask(text)
            numbers = pd.Series(np.nan, index=range(len(values)))
            numbers[numeric] = pc.cast(pa.array(text[numeric]), pa.float64()).to_numpy(zero_copy_only=False)
    else:
        numbers = _positional(pd.to_numeric(values, errors="coerce").astype("float64"))
    invalid = _present(values) & ~np.isfinite(numbers.to_numpy())
    return numbers.where(~invalid), invalid


def _number_mask(text: pd.Series) -> np.ndarray:
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        matches = pc.fill_null(pc.match_substring_regex(pa.array(text), _NUMBER), False)
        return np.asarray(matches.to_numpy(zero_copy_only=False), dtype=bool)
    return text.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)


def _text(values: pd.Series) -> pd.Series:
    """Trimmed text, blank -> missing; an integral float column (ids with gaps) loses its `.0`."""
    if pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("str")
    text = text.str.strip()
    return _positional(text.where(text != ""))


def _present(values: pd.Series) -> np.ndarray:
    given = values.notna().to_numpy()
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        given = given & (values.astype("str").str.strip() != "").fillna(False).to_numpy(dtype=bool)
    return given


def _url_path(pages: pd.Series) -> pd.Series:
    """`https://shop.example/cart?x=1` -> `/cart`: the contract's page is a URL path.

    Pages repeat, so the regexes run on the distinct values only.
    """
    codes, distinct = pd.factorize(pages)
    text = pd.Series(distinct, dtype="str")
    path = text.str.replace(_URL_ORIGIN, "", regex=True).str.replace(r"[?#].*$", "", regex=True)
    path = pd.concat([path.where(path != "", "/"), pd.Series([np.nan], dtype="str")], ignore_index=True)
    return path.take(np.where(codes < 0, len(distinct), codes)).reset_index(drop=True)


def _said(reason: str) -> _Reason:
    return lambda rows: pd.Series(reason, index=range(len(rows)), dtype="str")


def _quoted(problem: str, values: pd.Series) -> _Reason:
    """A reason that quotes each bad value, built only for the bad rows."""

    def reason(rows: np.ndarray) -> pd.Series:
        shown = values.iloc[rows].astype("str").str.slice(0, _SHOWN)
        return problem + " '" + shown.fillna("") + "'"

    return reason


def _quarantine(
    raw: pd.DataFrame, frame: pd.DataFrame, bad: np.ndarray, checks: list[_Check]
) -> pd.DataFrame:
    """The bad rows as text, each with its position in the input and all its reasons."""
    rows = np.flatnonzero(bad)
    reasons = pd.Series(pd.NA, index=range(len(frame)), dtype="str")
    for _, mask, why in checks:
        hit = np.flatnonzero(mask)
        if hit.size:
            text = pd.Series(np.asarray(why(hit), dtype=object), index=hit, dtype="str")
            reasons[hit] = (reasons[hit] + "; " + text).fillna(text)
    labels = raw.index.to_numpy()[rows] if pd.api.types.is_integer_dtype(raw.index.dtype) else rows
    out = {
        "source_row": pd.Series(labels, dtype="int64"),
        "reason": reasons.iloc[rows].reset_index(drop=True),
    }
    for name in frame.columns:
        if name != READ_ERROR_COLUMN:
            key = "raw_line" if name == RAW_LINE_COLUMN else f"{name}_raw" if name in out else str(name)
            out[key] = _raw_text(frame[name].iloc[rows]).reset_index(drop=True)
    return pd.DataFrame(out)


def _raw_text(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.StringDtype):
        return values
    if values.dtype == object or isinstance(values.dtype, pd.ArrowDtype):
        return values.map(_to_text).astype("str")
    return values.astype("str")


def _to_text(value: Any) -> str | None:
    if isinstance(value, list | tuple | dict | np.ndarray):
        return json.dumps(value, default=_jsonable, ensure_ascii=False)
    return None if pd.isna(value) else str(value)


def _jsonable(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)


def _find_columns(frame: pd.DataFrame, plan: ColumnPlan) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """The raw values of each canonical and context column (candidates coalesced)."""
    available: dict[str, pd.Series] = dict(plan.derive(frame)) if plan.derive is not None else {}
    available |= {str(name): values for name, values in frame.items()}

    def look(candidates: tuple[str, ...]) -> pd.Series | None:
        present = [found for c in candidates if (found := _lookup(available, c)) is not None]
        return _coalesce(present) if present else None

    found: dict[str, pd.Series] = {}
    context: dict[str, pd.Series] = {}
    missing: list[str] = []
    for name, candidates in plan.columns.items():
        if (values := look(candidates)) is not None:
            found[name] = values
        elif name in plan.explicit or name in ("timestamp", "event"):
            missing.append(_missing(f"`{name}`", candidates, frame))
    if not {"session_id", "user_id"} & (found.keys() | plan.explicit):
        looked = (*plan.columns["session_id"], *plan.columns["user_id"])
        missing.append(_missing("`session_id` or `user_id`", looked, frame))
    for name, candidates in plan.context.items():
        if (values := look(candidates)) is not None:
            context[name] = values
        elif plan.context_explicit:
            missing.append(_missing(f"context column `{name}`", candidates, frame))
    if missing:
        raise SchemaError("; ".join(missing) + f"; available columns: {', '.join(_data_columns(frame))}")
    return found, context


def _lookup(available: dict[str, pd.Series], name: str) -> pd.Series | None:
    """A column, or a dotted path into a column of JSON text or key/value records."""
    if name in available:
        return available[name]
    if "." in name:
        found = nested_field(available, name)
        if found is not None:
            available[name] = found
        return found
    return None


def _data_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if c not in (READ_ERROR_COLUMN, RAW_LINE_COLUMN)]


def _missing(what: str, candidates: tuple[str, ...], frame: pd.DataFrame) -> str:
    columns = _data_columns(frame)
    looked = ", ".join(f"`{c}`{did_you_mean(c, columns)}" for c in candidates)
    return f"events lack {what} (looked for the raw column {looked})"


def _coalesce(candidates: list[pd.Series]) -> pd.Series:
    """The first candidate, its missing or blank values filled from the next ones."""
    out = candidates[0]
    for other in candidates[1:]:
        out = out.where(_present(out), other)
    return out


def _positional(values: pd.Series) -> pd.Series:
    return values.reset_index(drop=True)


def _ordered(typed: Mapping[str, pd.Series]) -> list[str]:
    canonical = (
        "session_id",
        "user_id",
        "timestamp",
        "event",
        "touchpoint",
        "page",
        "target",
        *NUMERIC_COLUMNS,
    )
    return [c for c in canonical if c in typed] + [c for c in typed if c not in canonical]
