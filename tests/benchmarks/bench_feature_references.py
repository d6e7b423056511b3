"""The featurizer beside two references a data team would otherwise write, on the same events.

scale = 1.0 is about 10 M simulated events (480,000 sessions). All three get the same frame:
str columns as the adapter gives them, plus a `touchpoint` column derived once with
Friction's taxonomy outside the timings (so the featurizer takes it as given, too).

- friction featurizer (all signals): every feature of the catalog, one core.
- reference: duckdb sql subset: a hand-written query (window functions) for a subset only:
  per session the event count, duration and distinct touchpoints; per (session, touchpoint)
  the visits (runs of consecutive events at the touchpoint) and the dwell (time to the next
  event, summed), in long form. DuckDB runs with threads=2, the machine's two cores.
- reference: groupby.apply: the same subset as a Python function per session, timed on the
  first `APPLY_SESSIONS` sessions only (it is too slow for the whole frame).

Each timing is the faster of `REPEATS` calls (the first pays for first use of memory).
The summary row gives how many times faster Friction is (events/s over events/s); note the
featurizer does more work than either reference (all signals, label cutoff).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from features.config import FrictionConfig
from features.featurize import Featurizer
from pipelines.simulate import simulate

SESSIONS_AT_SCALE_1 = 480_000  # about 21 events per session: 10 M events
MIN_SESSIONS = 500
APPLY_SESSIONS = 2_000
DUCKDB_THREADS = 2
REPEATS = 2
SEED = 0

SUBSET_SQL = """
WITH ordered AS (
    SELECT
        session_id,
        timestamp,
        touchpoint,
        LEAD(timestamp) OVER w AS next_timestamp,
        LAG(touchpoint) OVER w AS previous_touchpoint
    FROM events
    WINDOW w AS (PARTITION BY session_id ORDER BY timestamp)
),
sessions AS (
    SELECT
        session_id,
        count(*) AS n_events,
        epoch_us(max(timestamp)) - epoch_us(min(timestamp)) AS duration_us,
        count(DISTINCT touchpoint) AS n_touchpoints
    FROM ordered
    GROUP BY session_id
),
touchpoints AS (
    SELECT
        session_id,
        touchpoint,
        count(*) FILTER (WHERE previous_touchpoint IS DISTINCT FROM touchpoint) AS visits,
        sum(coalesce(epoch_us(next_timestamp) - epoch_us(timestamp), 0)) AS dwell_us
    FROM ordered
    GROUP BY session_id, touchpoint
)
SELECT s.session_id, s.n_events, s.duration_us, s.n_touchpoints, t.touchpoint, t.visits, t.dwell_us
FROM sessions AS s JOIN touchpoints AS t USING (session_id)
"""


def _events(n_sessions: int, featurizer: Featurizer) -> pd.DataFrame:
    """Simulated events with str columns and the taxonomy's touchpoint per event."""
    events = simulate(n_sessions, seed=SEED).events
    events = events.astype(
        {c: "str" for c in events.columns if isinstance(events[c].dtype, pd.CategoricalDtype)}
    )
    event_codes, event_names = pd.factorize(events["event"])
    page_codes, pages = pd.factorize(events["page"])  # missing pages get code -1, as map_codes wants
    taxonomy = featurizer.taxonomy_
    codes = taxonomy.map_codes(
        event_codes.astype(np.int64),
        np.asarray(event_names, dtype=object),
        page_codes.astype(np.int64),
        np.asarray(pages, dtype=object),
    )
    touchpoint = np.asarray(taxonomy.touchpoints, dtype=object)[codes]
    return events.assign(touchpoint=pd.Series(touchpoint, index=events.index, dtype="str"))


def _session_subset(session: pd.DataFrame) -> pd.Series:
    """The subset for one session, as a data scientist would write it with pandas."""
    session = session.sort_values("timestamp")
    ts = session["timestamp"]
    touchpoint = session["touchpoint"]
    dwell = (ts.shift(-1) - ts).dt.total_seconds().fillna(0.0)
    visit_start = touchpoint != touchpoint.shift()
    out: dict[str, float] = {
        "n_events": float(len(session)),
        "duration_s": (ts.iloc[-1] - ts.iloc[0]).total_seconds(),
        "n_touchpoints": float(touchpoint.nunique()),
    }
    for name, visits in visit_start.groupby(touchpoint).sum().items():
        out[f"visits__{name}"] = float(visits)
    for name, seconds in dwell.groupby(touchpoint).sum().items():
        out[f"dwell_s__{name}"] = float(seconds)
    return pd.Series(out)


def _best(call: Callable[[], Any]) -> float:
    """The fastest of `REPEATS` calls, in seconds."""
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _row(label: str, n_events: int, seconds: float, **extra: Any) -> dict[str, Any]:
    row = {"benchmark": label, "events": n_events, "seconds": seconds, "events_per_s": n_events / seconds}
    return row | extra


def run(scale: float) -> list[dict[str, Any]]:
    featurizer = Featurizer(FrictionConfig())
    events = _events(max(MIN_SESSIONS, int(SESSIONS_AT_SCALE_1 * scale)), featurizer)
    featurizer(events.head(10_000))  # compile the taxonomy caches outside the timings
    n = len(events)

    friction = _best(lambda: featurizer(events))
    rows = [_row("friction featurizer (all signals)", n, friction, sessions=events["session_id"].nunique())]

    connection = duckdb.connect()
    connection.execute(f"SET threads = {DUCKDB_THREADS}")
    connection.register("events", events)
    sql = _best(lambda: connection.sql(SUBSET_SQL).to_arrow_table())
    result_rows = connection.execute(f"SELECT count(*) FROM ({SUBSET_SQL})").fetchone()
    connection.close()
    rows.append(
        _row(
            "reference: duckdb sql subset",
            n,
            sql,
            threads=DUCKDB_THREADS,
            long_rows=None if result_rows is None else int(result_rows[0]),
        )
    )

    first = events["session_id"].drop_duplicates().head(APPLY_SESSIONS)
    sample = events[events["session_id"].isin(first)]
    grouped = sample[["timestamp", "touchpoint"]].groupby(sample["session_id"], sort=False)
    apply = _best(lambda: grouped.apply(_session_subset))
    rows.append(_row("reference: groupby.apply", len(sample), apply, sessions=len(first)))

    rates = {row["benchmark"]: row["events_per_s"] for row in rows}
    friction_rate = rates["friction featurizer (all signals)"]
    rows.append(
        {
            "benchmark": "summary: friction events/s over each reference's",
            "friction_vs_duckdb": friction_rate / rates["reference: duckdb sql subset"],
            "friction_vs_groupby_apply": friction_rate / rates["reference: groupby.apply"],
        }
    )
    return rows


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 0.01), indent=2))
