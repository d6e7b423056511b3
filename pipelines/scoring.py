"""`friction score`: batch scoring of sessions, locally or on Spark, from events or features.

One function scores a feature table (`score_table`: risk, band, raw log-odds and, with
`explain`, the per-scope contributions and the top drivers); both engines run it, Spark on
each partition. Events are featurized with the model's own featurizer config (or `--config`);
this module does no feature math. On Spark, the model travels to the executors as its files'
bytes plus `MANIFEST.json`, and each executor checks the hashes before parsing anything.
Outputs are sorted by session id and written atomically.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.config import FrictionConfig
from features.errors import ConfigError, FrictionError, SchemaError
from features.featurize import Featurizer
from features.schema import TIMESTAMP_DTYPE
from models.artifact import BASE_VALUE, FrictionModel
from models.explain import by_touchpoint, driver_columns, driver_table, scope_names
from pipelines.engines import (
    _events_schema,
    _from_spark,
    _spark_schema,
    _to_spark,
    featurize_local,
    partition_key,
    spark_session,
)
from pipelines.feature_table import check_table
from pipelines.ingest import IngestSummary, load_events
from pipelines.writers import write_parquet

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

__all__ = [
    "CHUNK_ROWS",
    "ENGINES",
    "META",
    "ScoreSummary",
    "output_schema",
    "score_events_local",
    "score_events_spark",
    "score_features_spark",
    "score_in_chunks",
    "score_table",
    "scoring_config",
]

ENGINES: tuple[str, ...] = ("local", "spark")
# Session columns carried from the feature table into the scores, in this order, when present.
META: dict[str, str] = {
    "session_id": "str",
    "user_id": "str",
    "session_start": TIMESTAMP_DTYPE,
    "session_end": TIMESTAMP_DTYPE,
}
_BUCKET = "__friction_bucket"
# Sessions scored at once: with --explain, 100 k x ~200 features of float64 is ~160 MB.
CHUNK_ROWS = 100_000
# Drivers per session: each adds seven columns; past a few dozen no reader looks at them.
MAX_TOP = 50


def output_schema(model: FrictionModel, meta: list[str], explain: bool, top: int) -> dict[str, str]:
    """Column -> dtype of the scores: meta, risk, band, raw; with `explain` the base value,
    `contribution__<scope>` per scope and `driver_<i>_*` for the top drivers."""
    schema = {name: META[name] for name in meta} | {"risk": "float64", "band": "str", "raw": "float64"}
    if explain:
        schema["base"] = "float64"
        schema |= {f"contribution__{scope}": "float64" for scope in scope_names(model)}
        schema |= driver_columns(top)
    return schema


def _meta_of(columns: list[str]) -> list[str]:
    if "session_id" not in columns:
        raise SchemaError(
            f"the feature table has no `session_id` column; it has: {', '.join(columns[:8])} ..."
        )
    return [name for name in META if name in columns]


def score_table(
    model: FrictionModel, table: pd.DataFrame, explain: bool = False, top: int = 3
) -> pd.DataFrame:
    """Scores of a feature table, one row per session in the table's order (see `output_schema`).

    Refuses a table missing a feature the model reads, or carrying feature columns it does not
    know (the error names them).
    """
    model.manifest.check(table, strict=True)
    meta = _meta_of([str(c) for c in table.columns])
    raw = model.predict_raw(table)
    risk = model.calibrator.apply(raw)
    parts: dict[str, Any] = {name: table[name].to_numpy() for name in meta}
    parts |= {"risk": risk, "band": model.band(risk), "raw": raw}
    out = pd.DataFrame(parts, index=table.index)
    if explain:
        contributions = model.contributions(table)
        scopes = by_touchpoint(model, contributions).add_prefix("contribution__")
        base = contributions[BASE_VALUE].rename("base")
        drivers = driver_table(model, table, contributions, k=top, raw=raw)
        out = pd.concat([out, base, scopes, drivers], axis=1)
    schema = output_schema(model, meta, explain, top)
    return out.astype(schema).reset_index(drop=True)


def score_in_chunks(
    model: FrictionModel, table: pd.DataFrame, explain: bool, top: int, rows: int = CHUNK_ROWS
) -> pd.DataFrame:
    """`score_table` over slices of `rows` sessions: contributions are sessions x features
    float64, so slicing bounds the memory of large tables (rows are scored independently)."""
    if len(table) <= rows:
        return score_table(model, table, explain, top)
    parts = [score_table(model, table.iloc[i : i + rows], explain, top) for i in range(0, len(table), rows)]
    return pd.concat(parts, ignore_index=True)


def _by_session(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.sort_values("session_id", kind="stable", ignore_index=True)


def scoring_config(model: FrictionModel, override: FrictionConfig | None) -> FrictionConfig:
    """The featurizer config for raw events: `--config` when given, else the model's own."""
    if override is not None:
        return override
    model.featurizer()  # raises the one-line reason when the model carries no config
    assert model.featurizer_config is not None
    return model.featurizer_config


def score_events_local(
    model: FrictionModel, events: pd.DataFrame, config: FrictionConfig, explain: bool, top: int
) -> pd.DataFrame:
    """Featurize canonical events with `config` (local engine), then score them."""
    _check_feature_columns(model, Featurizer(config).schema(list(events.columns)))
    return _by_session(score_in_chunks(model, featurize_local(events, config).table, explain, top))


def _check_feature_columns(model: FrictionModel, schema: Mapping[str, str]) -> None:
    """The manifest's column check on a table's schema alone (before any partition runs)."""
    empty = pd.DataFrame({name: pd.Series(dtype="float64") for name in schema})
    model.manifest.check(empty, strict=True)
    _meta_of(list(schema))


# --- Spark ----------------------------------------------------------------------------------


def _shipped_model(files: Mapping[str, bytes]) -> FrictionModel:
    """Runs on an executor: the hashes are checked against MANIFEST.json before parsing."""
    return FrictionModel.from_files(files, source="model shipped to a Spark executor")


def _score_events_group(
    files: Mapping[str, bytes], override: str | None, columns: list[str], explain: bool, top: int
) -> Any:  # a function of one pandas group, as `applyInPandas` takes it
    in_schema = _events_schema(columns)

    def score_group(batch: pd.DataFrame) -> pd.DataFrame:
        model = _shipped_model(files)
        config = FrictionConfig.model_validate_json(override) if override else None
        featurizer = model.featurizer() if config is None else Featurizer(config)
        table = featurizer(_from_spark(batch[columns], in_schema)).frame
        return _to_spark(score_in_chunks(model, table, explain, top))

    return score_group


def _score_feature_batches(
    files: Mapping[str, bytes], in_schema: dict[str, str], explain: bool, top: int
) -> Any:  # a function of an iterator of pandas batches, as `mapInPandas` takes it
    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = _shipped_model(files)
        for batch in batches:
            if len(batch):
                yield _to_spark(score_table(model, _from_spark(batch, in_schema), explain, top))

    return score_batches


def _collect(result: SparkFrame, schema: dict[str, str]) -> pd.DataFrame:
    frame = _from_spark(result.toPandas(), schema)
    return (
        _by_session(frame.astype(schema)) if len(frame) else pd.DataFrame(columns=list(schema)).astype(schema)
    )


def score_events_spark(
    model: FrictionModel,
    events: pd.DataFrame,
    config: FrictionConfig,
    explain: bool,
    top: int,
    spark: SparkSession,
    buckets: int = 8,
) -> pd.DataFrame:
    """`score_events_local` on Spark: user buckets featurized and scored on the executors."""
    from pyspark.sql import functions as sf

    columns = [str(c) for c in events.columns]
    features_schema = Featurizer(config).schema(columns)
    _check_feature_columns(model, features_schema)
    schema = output_schema(model, _meta_of(list(features_schema)), explain, top)
    # The model's own config travels inside its verified files; an override goes as JSON.
    override = None if config is model.featurizer_config else config.self_contained().model_dump_json()
    frame = spark.createDataFrame(_to_spark(events), schema=_spark_schema(_events_schema(columns)))
    key = sf.coalesce(sf.col(partition_key(columns)), sf.lit(""))
    result = (
        frame.withColumn(_BUCKET, sf.pmod(sf.hash(key), sf.lit(buckets)))
        .groupBy(_BUCKET)
        .applyInPandas(
            _score_events_group(model.signed_files(), override, columns, explain, top),
            schema=_spark_schema(schema),
        )
    )
    return _collect(result, schema)


def score_features_spark(
    model: FrictionModel, path: Path, explain: bool, top: int, spark: SparkSession
) -> pd.DataFrame:
    """Score a feature table (Parquet) on Spark, partition by partition (`mapInPandas`)."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    frame = spark.read.parquet(str(path))
    stamps = [
        f.name for f in frame.schema.fields if isinstance(f.dataType, st.TimestampType | st.TimestampNTZType)
    ]
    # Times as epoch microseconds: pyspark's own conversion to pandas warns under pandas 3.
    frame = frame.withColumns({name: sf.unix_micros(sf.col(name).cast("timestamp")) for name in stamps})
    strings = {f.name for f in frame.schema.fields if isinstance(f.dataType, st.StringType)}
    in_schema = {name: TIMESTAMP_DTYPE if name in stamps else "str" for name in [*stamps, *strings]}
    columns = [str(c) for c in frame.columns]
    _check_feature_columns(model, dict.fromkeys(columns, "float64"))
    schema = output_schema(model, _meta_of(columns), explain, top)
    result = frame.mapInPandas(
        _score_feature_batches(model.signed_files(), in_schema, explain, top), schema=_spark_schema(schema)
    )
    return _collect(result, schema)


# --- the job ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreSummary:
    sessions: int
    bands: dict[str, int]
    mean_risk: float
    output: Path
    engine: str
    explained: bool
    seconds: float
    ingest: IngestSummary | None = None

    def as_rows(self) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        if self.ingest is not None:
            rows |= {"rows read": self.ingest.rows_in, "rows quarantined": self.ingest.rows_quarantined}
        rows |= {"sessions scored": self.sessions, "mean risk": f"{self.mean_risk:.1%}"}
        rows |= {f"band {band}": count for band, count in self.bands.items()}
        rows |= {"engine": self.engine, "with explanations": "yes" if self.explained else "no"}
        return rows | {"wrote scores": str(self.output), "seconds": self.seconds}


@contextmanager
def _spark(given: SparkSession | None, master: str | None) -> Iterator[SparkSession]:
    if given is not None:
        yield given
        return
    with spark_session(master or "local[2]") as owned:
        yield owned


def _parquet_columns(path: Path) -> list[str]:
    """A Parquet file's (or folder's) column names, from its footer alone."""
    import pyarrow.dataset as ds

    try:
        return [str(name) for name in ds.dataset(str(path), format="parquet").schema.names]
    except (OSError, ValueError) as exc:
        raise FrictionError(f"cannot read the feature table {path}: {exc}") from None


def _read_features(path: Path) -> pd.DataFrame:
    from training.data import read_feature_table

    check_table(path)
    return read_feature_table(path)


def run_score(
    model: FrictionModel,
    out: Path,
    events: Path | None = None,
    features: Path | None = None,
    explain: bool = False,
    top: int = 3,
    engine: str = "local",
    spark_master: str | None = None,
    config: FrictionConfig | None = None,
    quarantine: Path | None = None,
    spark: SparkSession | None = None,
) -> ScoreSummary:
    """Score events (featurized with the model's config, or `config`) or a feature table;
    write one row per session to `out` (Parquet, atomically). The Spark engine starts a
    session on `spark_master` (default local[2]) and stops it, unless `spark` is given."""
    started = time.perf_counter()
    if (events is None) == (features is None):
        raise ConfigError(
            "give exactly one input: --events PATH (raw events) or --features PATH (a feature table)"
        )
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if isinstance(top, bool) or not 1 <= top <= min(MAX_TOP, len(model.manifest.features)):
        limit = min(MAX_TOP, len(model.manifest.features))
        why = f"{MAX_TOP} at most" if limit == MAX_TOP else f"the model has {limit} features"
        raise ConfigError(f"--top must be an integer from 1 to {limit} ({why}), got {top!r}")
    if features is not None and config is not None:
        raise ConfigError("--config applies to --events only: a feature table is already featurized")
    ingest = None
    if events is not None:
        chosen = scoring_config(model, config)
        table, ingest = load_events(events, chosen, quarantine_path=quarantine)
        # Checked here, on the driver: a mismatch is one line, not a failed Spark task.
        _check_feature_columns(model, Featurizer(chosen).schema([str(c) for c in table.columns]))
        if engine == "spark":
            with _spark(spark, spark_master) as session:
                scores = score_events_spark(model, table, chosen, explain, top, session)
        else:
            scores = score_events_local(model, table, chosen, explain, top)
    else:
        assert features is not None
        if engine == "spark":
            check_table(features)
            _check_feature_columns(model, dict.fromkeys(_parquet_columns(features), "float64"))
            with _spark(spark, spark_master) as session:
                scores = score_features_spark(model, features, explain, top, session)
        else:
            scores = _by_session(score_in_chunks(model, _read_features(features), explain, top))
    write_parquet(scores, out)
    counts = scores["band"].value_counts()
    return ScoreSummary(
        sessions=len(scores),
        bands={band: int(counts.get(band, 0)) for band in ("low", "medium", "high")},
        mean_risk=float(np.mean(scores["risk"])) if len(scores) else float("nan"),
        output=out,
        engine=engine if spark_master is None else f"{engine} ({spark_master})",
        explained=explain,
        seconds=time.perf_counter() - started,
        ingest=ingest,
    )
