"""The report's files: `report.html` and, for BI tools, every table as CSV and JSON records
(ISO dates, null for missing) under `tables/`, plus `tables/index.json` naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from models.report.build import Report
from models.report.html import render_html

__all__ = ["HTML_FILE", "TABLES_DIR", "write_report_files"]

HTML_FILE = "report.html"
TABLES_DIR = "tables"


def _json(frame: pd.DataFrame) -> str:
    return (
        frame.to_json(orient="records", date_format="iso", date_unit="s", force_ascii=False, indent=1) or "[]"
    )


def write_report_files(report: Report, folder: Path) -> list[Path]:
    """Write into `folder` (which the caller makes atomic); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = folder / TABLES_DIR
    tables.mkdir(exist_ok=True)
    written = [folder / HTML_FILE]
    written[0].write_text(render_html(report), encoding="utf-8")
    index = {}
    for name, frame in report.tables.items():
        csv_path, json_path = tables / f"{name}.csv", tables / f"{name}.json"
        frame.to_csv(csv_path, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        json_path.write_text(_json(frame) + "\n", encoding="utf-8")
        index[name] = {"rows": len(frame), "columns": [str(c) for c in frame.columns]}
        written += [csv_path, json_path]
    index_path = tables / "index.json"
    index_path.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return [*written, index_path]
