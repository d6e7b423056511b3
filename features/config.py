"""`friction.toml`: typed configuration, validated once, with errors that name the key.

Each section is a pydantic model that refuses unknown keys. `load_config` reads a file;
`parse_config` validates a mapping (tests and the API build configs in memory).
Relative paths in the file are resolved against the file's folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from features.errors import ConfigError
from features.labels import LabelConfig
from features.schema import did_you_mean
from features.section import Section
from features.sessions import SessionsConfig
from features.signals import SignalsConfig
from features.taxonomy import TouchpointsConfig

__all__ = ["EventsConfig", "FrictionConfig", "QualityConfig", "load_config", "parse_config"]

Preset = Literal["custom", "ga4", "snowplow", "segment"]




class EventsConfig(Section):
    """Raw column -> canonical column. `None` means: the preset's choice, else the same name."""

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
    context: list[str] = Field(default_factory=list)
    # Unit of numeric timestamps; "auto" infers s/ms/us from the magnitude.
    timestamp_unit: Literal["auto", "s", "ms", "us"] = "auto"


class QualityConfig(Section):
    max_bad_row_rate: float = Field(default=0.01, ge=0.0, le=1.0)




















class FrictionConfig(Section):
    events: EventsConfig = Field(default_factory=EventsConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    touchpoints: TouchpointsConfig = Field(default_factory=TouchpointsConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model that owns the key at `loc`, to suggest its allowed keys."""
    model: type[BaseModel] | None = FrictionConfig
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        model = next((a for a in candidates if issubclass(a, BaseModel)), None)
    return model


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
    return f"{source}: `{key}`: {error['msg']}{shown}"


def parse_config(data: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> FrictionConfig:
    """Validate a config mapping; relative paths are taken from `base_dir`."""
    try:
        config = FrictionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e, source) for e in exc.errors())) from None
    return _resolve_paths(config, base_dir) if base_dir is not None else config


def _resolve_paths(config: FrictionConfig, base_dir: Path) -> FrictionConfig:
    def resolve(path: Path | None) -> Path | None:
        return None if path is None or path.is_absolute() else base_dir / path

    touchpoints = config.touchpoints.model_copy(update={"taxonomy": resolve(config.touchpoints.taxonomy)})
    label = config.label
    if label.survey is not None:
        label = label.model_copy(update={"survey": label.survey.model_copy(update={"path": resolve(label.survey.path)})})
    return config.model_copy(update={"touchpoints": touchpoints, "label": label})


def load_config(path: Path) -> FrictionConfig:
    """Read and validate `friction.toml`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(path), base_dir=path.resolve().parent)
