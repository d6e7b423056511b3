"""Days that stand out: the incident rule of the report's trend section.

For every touchpoint t and day d (UTC, by session start) take m[t, d], the mean of t's
contribution (log-odds) over the sessions of that day. Against t's own history of days:

    z[t, d] = (m[t, d] - median_d m[t, .]) / (1.4826 x MAD_d m[t, .])

(1.4826 x MAD estimates the standard deviation of normal noise, and neither it nor the median
is moved much by a few outlying days, so the incident does not hide itself by inflating its own
baseline). The spread is never below the sampling noise of a day's mean, s[t] / sqrt(n[d])
(s[t]: the standard deviation of t's contribution over sessions): a touchpoint most sessions
never visit has nearly the same mean every day, a MAD near zero, and would otherwise turn one
visit into a huge z. A day is flagged at t when it has at least `min_sessions` sessions and

- z >= `threshold` (a spike), or
- z >= `run_z` and the days around it (a centred window of `run_days`) stand out together:
  sum of their z / sqrt(window days) >= `threshold` (an incident that lasts weeks on a small
  shop's thirty sessions a day, whose days are each too noisy to stand out alone).

Touchpoints with fewer than `min_days` days, or no spread at all, are not judged. Only rises
are flagged: a day where a touchpoint hurts more than usual. Flags are read per touchpoint;
with T touchpoints x D days there are T x D tests, so the threshold is set well above 3
(normal noise reaches z = 5 about once in 3.5 million tests).

Limits: no weekly seasonality model (a shop with quiet Sundays needs per-weekday baselines),
and a slow drift over the whole period is not a "day that stands out".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MAD_TO_SD", "daily_contributions", "flag_days", "where_concentrated"]

MAD_TO_SD = 1.4826  # MAD x this = standard deviation, for normal noise


def daily_contributions(days: pd.Series, scopes: pd.DataFrame, touchpoints: list[str]) -> pd.DataFrame:
    """Long table: day, touchpoint, sessions, mean_contribution (all sessions of the day), and
    session_sd (the touchpoint's standard deviation over all sessions)."""
    spread = scopes[touchpoints].std(ddof=0)
    frame = scopes[touchpoints].copy()
    frame["day"] = days.to_numpy()
    grouped = frame.groupby("day", sort=True)
    means = (
        grouped.mean()
        .reset_index()
        .melt(id_vars="day", var_name="touchpoint", value_name="mean_contribution")
    )
    counts = grouped.size().rename("sessions").reset_index()
    out = means.merge(counts, on="day")
    out["session_sd"] = out["touchpoint"].map(spread).astype("float64")
    return out[["day", "touchpoint", "sessions", "mean_contribution", "session_sd"]]


def flag_days(
    daily: pd.DataFrame,
    threshold: float,
    min_sessions: int,
    min_days: int,
    run_days: int = 7,
    run_z: float = 2.0,
) -> pd.DataFrame:
    """`daily` plus `baseline` (median), `spread` (1.4826 x MAD, floored by the sampling noise
    when `daily` has `session_sd`), `z` and `flagged`."""
    out = daily.copy()
    eligible = out["sessions"] >= min_sessions
    values = out["mean_contribution"].where(eligible)
    by_touchpoint = values.groupby(out["touchpoint"], sort=False)
    baseline = by_touchpoint.transform("median")
    deviation = (values - baseline).abs()
    spread = MAD_TO_SD * deviation.groupby(out["touchpoint"], sort=False).transform("median")
    if "session_sd" in out.columns:
        spread = np.maximum(spread, out["session_sd"] / np.sqrt(out["sessions"].clip(lower=1)))
    days = by_touchpoint.transform("count")
    judged = eligible & (days >= min_days) & (spread > 0)
    z = ((out["mean_contribution"] - baseline) / spread.where(spread > 0)).where(judged)
    out["baseline"] = baseline
    out["spread"] = spread
    out["z"] = z
    out["flagged"] = (
        judged & ((z >= threshold) | ((z >= run_z) & (_run_z(out, run_days) >= threshold)))
    ).to_numpy(dtype=bool)
    return out


def _run_z(out: pd.DataFrame, run_days: int) -> pd.Series:
    """Per row, the z of the mean of the judged days in a centred window of `run_days` days of
    its touchpoint: sum of z / sqrt(count)."""
    ordered = out.sort_values(["touchpoint", "day"])
    grouped = ordered.groupby("touchpoint", sort=False)["z"]
    total = grouped.transform(lambda z: z.rolling(run_days, center=True, min_periods=1).sum())
    count = grouped.transform(lambda z: z.rolling(run_days, center=True, min_periods=1).count())
    run: pd.Series = (total / np.sqrt(count.where(count > 0))).reindex(out.index)
    return run


def where_concentrated(
    flagged: pd.DataFrame, days: pd.Series, scopes: pd.DataFrame, segments: pd.DataFrame, min_sessions: int
) -> pd.DataFrame:
    """For each flagged (day, touchpoint), the analyst's "for whom": over every segment column,
    the value whose sessions that day rose most above their own median day (mean excess per
    session), among values with at least `min_sessions` sessions that day."""
    columns = ["day", "touchpoint", "segment", "value", "excess_contribution", "segment_sessions"]
    rows = []
    for touchpoint in flagged["touchpoint"].unique():
        wanted = set(flagged.loc[flagged["touchpoint"] == touchpoint, "day"])
        best: dict[object, dict[str, object]] = {}
        for column in segments.columns:
            table = pd.DataFrame(
                {
                    "value": segments[column].astype("str").to_numpy(),
                    "day": days.to_numpy(),
                    "c": scopes[touchpoint],
                }
            )
            means = table.groupby(["value", "day"])["c"].agg(["mean", "size"]).reset_index()
            means["usual"] = means.groupby("value")["mean"].transform("median")
            means["excess"] = means["mean"] - means["usual"]
            candidates = means[means["day"].isin(wanted) & (means["size"] >= min_sessions)]
            for record in candidates.to_dict("records"):
                found = best.get(record["day"])
                if found is None or float(record["excess"]) > float(str(found["excess_contribution"])):
                    best[record["day"]] = {
                        "day": record["day"],
                        "touchpoint": touchpoint,
                        "segment": column,
                        "value": record["value"],
                        "excess_contribution": float(record["excess"]),
                        "segment_sessions": int(record["size"]),
                    }
        rows += list(best.values())
    # Typed like `flagged` even when empty, so callers can merge on `day`.
    return pd.DataFrame(rows, columns=columns).astype({"day": flagged["day"].dtype})
