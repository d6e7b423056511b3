"""`friction whatif`: how many dissatisfied sessions removing some friction would spare.

A model, a feature table and a scope (`payment`, `rage_clicks` or `payment,rage_clicks`) ->
the scope's counterfactual impact (models.impact) over all sessions, per day and per segment
value, printed and written to a folder (`impact`, `impact_by_day`, `impact_by_segment`, each as
CSV and JSON, and `index.json`), replaced whole and atomically. The same figures as the
report's fix list, for any scope.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.errors import FrictionError
from models.impact import parse_scope
from models.report.exports import INDEX_FILE, write_tables
from models.report.tables import impact_views, segment_columns
from models.signing import Verifier
from pipelines.console import print_summary, step
from pipelines.reporting import replace_folder
from training.data import read_feature_table
from training.tracking import TrackingSettings, load_model

__all__ = ["WhatIf", "run_whatif"]


@dataclass(frozen=True)
class WhatIf:
    folder: Path
    tables: dict[str, pd.DataFrame]  # impact, impact_by_day, impact_by_segment

    def summary(self) -> dict[str, object]:
        row = self.tables["impact"].iloc[0]
        return {
            "scope": row["scope"],
            "sessions": int(row["sessions"]),
            "sessions with this friction": int(row["sessions_with_friction"]),
            "predicted dissatisfied sessions": f"{row['predicted_dissatisfied']:,.1f}",
            "dissatisfied sessions avoided": _interval(row, "avoided", "{:,.1f}"),
            "share of predicted dissatisfaction": _interval(row, "share", "{:.1%}"),
            **_largest(self.tables["impact_by_day"], "day", "day avoiding most"),
            **_largest(self.tables["impact_by_segment"], "value", "segment avoiding most"),
            "tables (CSV, JSON)": str(self.folder),
        }


def _interval(row: pd.Series, name: str, fmt: str) -> str:
    text = fmt.format(row[name])
    low, high = row[f"{name}_low"], row[f"{name}_high"]
    if pd.notna(low) and pd.notna(high):
        text += f" [{fmt.format(low)}, {fmt.format(high)}] (95 %)"
    return text


def _largest(table: pd.DataFrame, key: str, title: str) -> dict[str, object]:
    if table.empty:
        return {}
    row = table.iloc[int(table["avoided"].to_numpy().argmax())]
    where = pd.Timestamp(row[key]).strftime("%Y-%m-%d") if key == "day" else f"{row['segment']}={row[key]}"
    return {title: f"{where}: {row['avoided']:,.1f} of {row['predicted_dissatisfied']:,.1f}"}


def _check_target(out: Path) -> None:
    if out.exists() and not (out.is_dir() and ((out / INDEX_FILE).is_file() or not any(out.iterdir()))):
        raise FrictionError(
            f"refusing to write into {out}: it exists and is neither empty nor a whatif folder "
            f"(no {INDEX_FILE}); choose another --out"
        )


def run_whatif(
    model_ref: str,
    features_path: Path,
    scope_text: str,
    out: Path,
    draws: int = 1_000,
    seed: int = 0,
    settings: TrackingSettings | None = None,
    verifier: Verifier | None = None,
) -> WhatIf:
    started = time.perf_counter()
    out = Path(out)
    _check_target(out)  # before the work, not after it
    with step(f"Loading the model {model_ref}"):
        model = load_model(model_ref, settings or TrackingSettings(), verifier)
    scope = parse_scope(model, scope_text)  # a bad scope fails before the table is read
    table = read_feature_table(features_path)
    if "session_start" not in table.columns:
        raise FrictionError(
            "the feature table lacks session_start (the featurizer writes it): no day to group by"
        )
    if table.empty:
        raise FrictionError("the feature table has no sessions: nothing to estimate")
    table = table.reset_index(drop=True)
    with step(f"Re-scoring {len(table):,} sessions without the friction of {scope.name}"):
        overall, by_day, by_segment = impact_views(
            model, table, [scope], table["session_start"], segment_columns(table), draws=draws, seed=seed
        )
    tables = {"impact": overall, "impact_by_day": by_day, "impact_by_segment": by_segment}
    replace_folder(out, lambda staging: write_tables(tables, staging))
    found = WhatIf(out, tables)
    print_summary("friction whatif", {**found.summary(), "seconds": time.perf_counter() - started})
    return found
