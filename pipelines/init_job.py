"""`friction init`: draft a `friction.toml` from a sample of an events file.

Reads the first `sample_rows` rows (the readers stream, so a 10 M-row file costs what the
sample costs), recognises the vendor or infers the columns, drafts the taxonomy, errors,
label and signal events (features/draft_taxonomy.py), checks that the text loads as a
config, writes it atomically and prints the coverage the draft reaches on the sample.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.column_roles import data_columns, infer_roles
from features.config import EventsConfig, parse_config
from features.coverage import Coverage, measure_coverage
from features.draft_config import draft_events_config, render_config
from features.draft_taxonomy import TaxonomyDraft, draft_taxonomy, status_error_names
from features.errors import ConfigError, DataQualityError
from features.events import normalize_events
from features.presets import PRESETS, detect_preset
from features.schema import did_you_mean
from features.taxonomy import OTHER, load_taxonomy
from pipelines.console import print_summary, print_warnings, step
from pipelines.readers import iter_event_batches
from pipelines.writers import write_text

__all__ = ["DEFAULT_SAMPLE_ROWS", "PRESET_CHOICES", "InitResult", "run_init"]

DEFAULT_SAMPLE_ROWS = 200_000
PRESET_CHOICES = ("auto", *PRESETS)


@dataclass(frozen=True)
class InitResult:
    path: Path
    preset: str
    draft: TaxonomyDraft
    coverage: Coverage
    seconds: float


def read_sample(events_path: Path, rows: int) -> pd.DataFrame:
    """The first `rows` rows of the file (all of it when smaller)."""
    sample = next(iter_event_batches(events_path, rows), None)
    if sample is None or sample.empty:
        raise DataQualityError(f"no events in {events_path}")
    return sample


def _check_target(events_path: Path, out: Path, force: bool) -> None:
    if out.resolve() == events_path.resolve():
        raise ConfigError(f"--out {out} is the events file itself; name another file")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name the friction.toml to write")
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")


def run_init(
    events_path: Path,
    out: Path,
    preset: str = "auto",
    force: bool = False,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> InitResult:
    started = time.perf_counter()
    if preset not in PRESET_CHOICES:
        hint = did_you_mean(preset, PRESET_CHOICES)
        raise ConfigError(f"unknown preset {preset!r}{hint}; allowed: {', '.join(PRESET_CHOICES)}")
    _check_target(events_path, out, force)
    with step(f"Profiling a sample of {events_path}"):
        raw = read_sample(events_path, sample_rows)
        chosen = detect_preset(raw.columns) if preset == "auto" else (preset, "chosen with --preset")
        roles = infer_roles(raw)
        events_config = draft_events_config(chosen[0], roles, data_columns(raw))
        events = normalize_events(raw, events_config).events
        if events.empty:
            raise DataQualityError(
                f"no usable row among the {len(raw):,} sampled from {events_path} with the inferred "
                f"columns ({events_config.explicit_columns() or 'preset ' + chosen[0]})"
            )
        status = _status_errors(raw, roles.status.raw if roles.status else None, chosen[0], events_config)
        base = load_taxonomy()
        draft = draft_taxonomy(
            events, base.funnel, [t for t in base.touchpoints if t != OTHER], status_errors=status
        )
        text = render_config(str(events_path), chosen, roles, events_config, draft)
        config = parse_config(tomllib.loads(text), source=f"drafted {out}")  # what we write must load
        coverage = measure_coverage(events, config)
    write_text(text, out)
    seconds = time.perf_counter() - started
    print_summary(
        "friction init",
        {
            "events file": str(events_path),
            "sampled rows": len(raw),
            "preset": f"{chosen[0]} ({chosen[1]})",
            "touchpoints of their own": ", ".join(draft.own_touchpoints) or "none",
            "error events": ", ".join(f.name for f in draft.errors) or "none found",
            "label candidates": ", ".join(f.name for f in draft.labels) or "none found",
            **coverage.as_rows(),
            "wrote": str(out),
            "seconds": seconds,
        },
    )
    print_warnings(coverage.warnings())
    return InitResult(out, chosen[0], draft, coverage, seconds)


def _status_errors(
    raw: pd.DataFrame, status_column: str | None, preset: str, events_config: EventsConfig
) -> dict[str, float]:
    """Event names an HTTP status column marks as errors (read on the raw rows)."""
    if status_column is None:
        return {}
    candidates = PRESETS[preset].columns.get("event", ()) if preset != "custom" else ()
    explicit = events_config.event
    event_column = next((c for c in (explicit, *candidates) if c and c in raw.columns), None)
    if event_column is None:
        return {}
    return status_error_names(raw[event_column], raw[status_column])
