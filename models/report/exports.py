"""The report's files: `report.html` and, for BI tools, every table as CSV and JSON records
(ISO dates, null for missing) under `tables/`, plus `tables/index.json` naming them.

Text reaches the tables from the data (context values, event names, pages). In the CSV files a
text cell (or header) a spreadsheet would run as a formula — one starting with `=`, `+`, `-`,
`@`, a tab or a carriage return — is prefixed with `'`, as OWASP's CSV-injection guidance says;
numeric columns, and text that is just a number ("-3.5"), are written as they are. The JSON
files keep every value exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from models.report.build import Report
from models.report.html import render_html

__all__ = ["HTML_FILE", "INDEX_FILE", "TABLES_DIR", "spreadsheet_safe", "write_report_files", "write_tables"]

HTML_FILE = "report.html"
TABLES_DIR = "tables"
INDEX_FILE = "index.json"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and headers cannot start a spreadsheet formula."""
    out = frame.rename(columns=lambda c: _safe_cell(str(c)))
    for i, column in enumerate(frame.columns):
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            out.isetitem(i, series.cat.rename_categories(_safe_cell).array)
        elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(i, series.map(_safe_cell, na_action="ignore").array)
    return out


def _json(frame: pd.DataFrame) -> str:
    return (
        frame.to_json(orient="records", date_format="iso", date_unit="s", force_ascii=False, indent=1) or "[]"
    )


def write_tables(tables: Mapping[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Each table as `<name>.csv` and `<name>.json` in `folder`, and `index.json` naming their
    rows and columns; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    index = {}
    for name, frame in tables.items():
        csv_path, json_path = folder / f"{name}.csv", folder / f"{name}.json"
        spreadsheet_safe(frame).to_csv(csv_path, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        json_path.write_text(_json(frame) + "\n", encoding="utf-8")
        index[name] = {"rows": len(frame), "columns": [str(c) for c in frame.columns]}
        written += [csv_path, json_path]
    index_path = folder / INDEX_FILE
    index_path.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return [*written, index_path]


def write_report_files(report: Report, folder: Path) -> list[Path]:
    """Write into `folder` (which the caller makes atomic); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / HTML_FILE
    page.write_text(render_html(report), encoding="utf-8")
    return [page, *write_tables(report.tables, folder / TABLES_DIR)]
