"""`friction.toml`: typed configuration, validated once, with errors that name the key.

Each section is a pydantic model that refuses unknown keys. `load_config` reads a file;
`parse_config` validates a mapping (tests and the API build configs in memory).
Relative paths in the file are resolved against the file's folder.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from features.errors import ConfigError
from features.labels import LabelConfig
from features.schema import CORE_COLUMNS, OPTIONAL_COLUMNS, did_you_mean
from features.section import Section
from features.sessions import SessionsConfig
from features.signals import SignalsConfig
from features.taxonomy import TouchpointsConfig

__all__ = [
    "CANONICAL_COLUMNS",
    "EventsConfig",
    "FrictionConfig",
    "QualityConfig",
    "TimestampUnit",
    "context_names",
    "load_config",
    "parse_config",
]

Preset = Literal["custom", "ga4", "snowplow", "segment"]
TimestampUnit = Literal["auto", "s", "ms", "us", "ns"]
CANONICAL_COLUMNS: tuple[str, ...] = (*CORE_COLUMNS, *OPTIONAL_COLUMNS)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NON_WORD = re.compile(r"\W")


class EventsConfig(Section):
    """Raw column -> canonical column. `None` means: the preset's choice, else the same name.

    Nested fields of JSON and Parquet inputs are addressed with dots (`context.page.path`).
    `context` lists raw columns kept as session context; a list keeps their names (dots and
    other non-word characters become `_`), a table `{name = "raw.column"}` renames them.
    """

    preset: Preset = "custom"
    session_id: str | None = None
    user_id: str | None = None
    timestamp: str | None = None
    event: str | None = None
    touchpoint: str | None = None
    page: str | None = None
    target: str | None = None
    x: str | None = None
    y: str | None = None
    load_ms: str | None = None
    value: str | None = None
    context: list[str] | dict[str, str] = Field(default_factory=list)
    # Unit of numeric timestamps; "auto" infers it per value from the magnitude (features/events.py).
    timestamp_unit: TimestampUnit = "auto"

    @field_validator(*CANONICAL_COLUMNS)
    @classmethod
    def _not_blank(cls, raw: str | None) -> str | None:
        if raw is not None and not raw.strip():
            raise ValueError("a raw column name cannot be empty")
        return raw

    @field_validator("context", mode="before")
    @classmethod
    def _context_shape(cls, context: Any) -> Any:
        # One clear message instead of one per branch of the union.
        if not isinstance(context, list | dict):
            raise ValueError('must be a list of raw column names or a table {name = "raw column"}')
        return context

    @field_validator("context")
    @classmethod
    def _context_names(cls, context: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        named = context_names(context)
        for name, raw in named.items():
            if not raw.strip():
                raise ValueError("a context column name cannot be empty")
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(
                    f"context name {name!r} must be letters, digits and `_`, not starting with a digit"
                )
            if name in CANONICAL_COLUMNS:
                raise ValueError(
                    f"context column {name!r} clashes with the canonical column of that name; map it "
                    f"with `{name} = ...` instead, or rename it with a table: context = {{other = {raw!r}}}"
                )
        if len(named) < len(context):
            raise ValueError(f"context names repeat: {sorted(context)}")
        return context

    def explicit_columns(self) -> dict[str, str]:
        """Canonical column -> raw column, for the keys the user wrote (they override a preset)."""
        return {
            name: raw
            for name in CANONICAL_COLUMNS
            if name in self.model_fields_set and (raw := getattr(self, name)) is not None
        }

    def context_columns(self) -> dict[str, str]:
        """Context column name in the canonical frame -> raw column."""
        return context_names(self.context)


def context_names(context: list[str] | dict[str, str]) -> dict[str, str]:
    """Output name -> raw column; a list keeps each raw name with non-word characters as `_`."""
    if isinstance(context, dict):
        return dict(context)
    return {_NON_WORD.sub("_", raw): raw for raw in context}


class QualityConfig(Section):
    max_bad_row_rate: float = Field(default=0.01, ge=0.0, le=1.0)


class FrictionConfig(Section):
    events: EventsConfig = Field(default_factory=EventsConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    touchpoints: TouchpointsConfig = Field(default_factory=TouchpointsConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)
    # `[train]`: passed through unvalidated here (features must not import training);
    # training validates it into its own typed config.
    train: dict[str, Any] = Field(default_factory=dict)
    # `[playbook]`: touchpoint or signal family -> the action key a product app acts on.
    playbook: dict[str, str] = Field(default_factory=dict)

    @field_validator("playbook")
    @classmethod
    def _action_keys(cls, playbook: dict[str, str]) -> dict[str, str]:
        for key, action in playbook.items():
            if not _IDENTIFIER.fullmatch(key):
                raise ValueError(f"playbook key {key!r} must be a touchpoint or signal family name")
            if not _IDENTIFIER.fullmatch(action):
                raise ValueError(f"playbook action for {key!r} must be an identifier, got {action!r}")
        return playbook

    def self_contained(self) -> FrictionConfig:
        """This config with its taxonomy inlined: what a model carries to featurize at scoring time."""
        return self.model_copy(update={"touchpoints": self.touchpoints.self_contained()})


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model that owns the key at `loc`, to suggest its allowed keys."""
    model: type[BaseModel] | None = FrictionConfig
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list of tables: the model stays the item's
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _section_in(model.model_fields[part].annotation)
    return model


def _section_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _section_in(arg)) is not None:
            return found
    return None


def _describe(error: Any, source: str) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        owner = _model_at(loc)
        allowed = sorted(owner.model_fields) if owner else []
        hint = did_you_mean(str(loc[-1]), allowed)
        return f"{source}: unknown key `{key}`{hint}; allowed here: {', '.join(allowed)}"
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "literal_error" and isinstance(got, str):
        shown += did_you_mean(got, re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", ""))))
    return f"{source}: `{key}`: {message}{shown}"


def parse_config(
    data: dict[str, Any], source: str = "config", base_dir: Path | None = None
) -> FrictionConfig:
    """Validate a config mapping; relative paths are taken from `base_dir`."""
    try:
        config = FrictionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e, source) for e in exc.errors())) from None
    return _resolve_paths(config, base_dir) if base_dir is not None else config


def _resolve_paths(config: FrictionConfig, base_dir: Path) -> FrictionConfig:
    def resolve(path: Path | None) -> Path | None:
        # `/` keeps an absolute path as given: it is honoured, never dropped for the built-in.
        return None if path is None else base_dir / path

    touchpoints = config.touchpoints.model_copy(update={"taxonomy": resolve(config.touchpoints.taxonomy)})
    label = config.label
    if label.survey is not None:
        label = label.model_copy(
            update={"survey": label.survey.model_copy(update={"path": resolve(label.survey.path)})}
        )
    return config.model_copy(update={"touchpoints": touchpoints, "label": label})


def load_config(path: Path) -> FrictionConfig:
    """Read and validate `friction.toml`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; give the friction.toml file in it") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "a friction.toml must be UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(path), base_dir=path.resolve().parent)
