"""The risk API's settings: pydantic-settings, environment prefix `FRICTION_`, built explicitly
(`Settings()` reads the environment when called, never at import).

Unsafe setups are refused when the settings are built: no API key while authentication is on,
limits past the hard ceilings the request schemas enforce.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from features.errors import ConfigError
from models.signing import SigningSettings

__all__ = ["MAX_EVENTS_CEILING", "MAX_STRING_CEILING", "MIN_KEY_LENGTH", "Settings", "load_settings"]

# Hard ceilings, also written into the request schemas (and so the OpenAPI document);
# the settings may only lower them.
MAX_EVENTS_CEILING = 10_000
MAX_STRING_CEILING = 4_096
MAX_BATCH_CEILING = 1_000
# A key shorter than this is guessable; `openssl rand -hex 16` gives 32 characters.
MIN_KEY_LENGTH = 16


class Settings(SigningSettings):
    """The API's settings; the model-signing keys (`FRICTION_SIGNING_KEY`,
    `FRICTION_VERIFY_PUBLIC_KEY`, models.signing) are among them."""

    model_config = SettingsConfigDict(env_prefix="FRICTION_", extra="ignore", populate_by_name=True)

    # A model directory, `runs:/RUN_ID/model`, or `models:/NAME@ALIAS` / `models:/NAME/VERSION`.
    model: str = Field(min_length=1)
    # Comma-separated in FRICTION_API_KEYS; never logged nor shown (SecretStr).
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    # One key per line (blank lines and `#` comments skipped).
    api_keys_file: Path | None = None
    api_key_header: str = "X-API-Key"
    # Only for local use: serve without keys.
    auth_disabled: bool = False
    # None or "memory": this process; redis://host:port/db: shared by every worker.
    session_store: str | None = None
    session_ttl_s: float = Field(default=1800.0, gt=0)
    # Redis connections per worker; a request past them waits up to the pool timeout, then 503.
    redis_pool_size: int = Field(default=100, ge=1, le=10_000)
    redis_pool_timeout_s: float = Field(default=5.0, gt=0, le=60)
    max_sessions: int = Field(default=100_000, gt=0)
    max_events_per_session: int = Field(default=1_000, gt=0, le=MAX_EVENTS_CEILING)
    max_batch_sessions: int = Field(default=100, gt=0, le=MAX_BATCH_CEILING)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_string_length: int = Field(default=256, gt=0, le=MAX_STRING_CEILING)
    # Seconds between two looks at the model reference (an alias may move); 0 = never.
    reload_interval_s: float = Field(default=30.0, ge=0)
    # Swagger UI and ReDoc (/docs, /redoc) load their JavaScript and CSS from a CDN: for
    # development only. The OpenAPI document itself (/openapi.json) is plain JSON.
    docs_enabled: bool = False
    openapi_enabled: bool = True
    # /metrics on the API's port needs the API key unless this is false; with `metrics_port`
    # it leaves the API's port and is served, without a key, on its own listener
    # (`metrics_host`, loopback by default) for Prometheus.
    metrics_auth: bool = True
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # Event times the API accepts: from `earliest_timestamp` to `max_future_s` past the
    # server's clock (later times, or years like 0001 or 9999, are clock or client errors).
    earliest_timestamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_future_s: float = Field(default=86_400.0, ge=0)
    top_drivers: int = Field(default=3, ge=1, le=20)
    # Sessions of concurrent requests featurized in one call (serving.batcher); 1: one by one.
    score_batch: int = Field(default=32, ge=1, le=1024)
    # A friction.toml whose `[playbook]` replaces the one the model carries.
    playbook_path: Path | None = None
    # Freeze the heap once a model is loaded and collect young objects less often (serving.heap).
    freeze_heap: bool = True

    _keys: tuple[bytes, ...] = PrivateAttr(default=())

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _keys_required(self) -> Settings:
        keys = [key.get_secret_value() for key in self.api_keys]
        if self.api_keys_file is not None:
            keys += _read_keys(self.api_keys_file)
        if short := [k for k in keys if len(k) < MIN_KEY_LENGTH]:
            raise ValueError(
                f"{len(short)} API key(s) are shorter than {MIN_KEY_LENGTH} characters; "
                "use long random keys (e.g. `openssl rand -hex 16`)"
            )
        if not keys and not self.auth_disabled:
            raise ValueError(
                "no API key configured: set FRICTION_API_KEYS (comma-separated) or FRICTION_API_KEYS_FILE, "
                "or FRICTION_AUTH_DISABLED=true for local use only"
            )
        self._keys = tuple(k.encode() for k in keys)
        return self

    def key_bytes(self) -> tuple[bytes, ...]:
        """Every accepted key (environment and file), as bytes for constant-time comparison."""
        return self._keys


def _read_keys(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the API keys file {path}: {exc.strerror}") from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def load_settings(**overrides: Any) -> Settings:
    """`Settings` from the environment (and `overrides`), a `ConfigError` naming each bad field."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            where = f"FRICTION_{field.upper()}: " if field else ""
            problems.append(where + str(error["msg"]).removeprefix("Value error, "))
        raise ConfigError("risk API settings: " + "; ".join(problems)) from None
