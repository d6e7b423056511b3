"""Settings: built from the environment only when asked, refusing unsafe setups by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from features.errors import ConfigError
from serving.settings import load_settings

KEY = "0123456789abcdef-key"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no FRICTION_ variable but the ones a test sets."""
    for name in [n for n in os.environ if n.startswith("FRICTION_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_reads_the_environment_with_comma_separated_keys(env: pytest.MonkeyPatch) -> None:
    env.setenv("FRICTION_MODEL", "models:/shop@champion")
    env.setenv("FRICTION_API_KEYS", f" {KEY} , {KEY}-second ,")
    env.setenv("FRICTION_SESSION_STORE", "redis://127.0.0.1:6379/0")
    env.setenv("FRICTION_RELOAD_INTERVAL_S", "5")
    settings = load_settings()
    assert settings.model == "models:/shop@champion"
    assert settings.key_bytes() == (KEY.encode(), f"{KEY}-second".encode())
    assert settings.session_store == "redis://127.0.0.1:6379/0"
    assert settings.reload_interval_s == 5.0
    assert KEY not in repr(settings)  # keys are secrets, never shown


def test_keys_from_a_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-11\n{KEY}\n\n{KEY}-next\n")
    settings = load_settings(model="m", api_keys_file=path)
    assert settings.key_bytes() == (KEY.encode(), f"{KEY}-next".encode())


def test_refuses_to_start_without_keys(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ConfigError, match=r"no API key configured: set FRICTION_API_KEYS .* FRICTION_AUTH_DISABLED"
    ):
        load_settings(model="m")
    assert load_settings(model="m", auth_disabled=True).key_bytes() == ()


def test_refuses_short_keys_without_showing_them(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="1 API key") as raised:
        load_settings(model="m", api_keys="short-key")
    assert "short-key" not in str(raised.value)


def test_unreadable_keys_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the API keys file .*missing"):
        load_settings(model="m", api_keys_file=tmp_path / "missing")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_events_per_session", 20_000, r"FRICTION_MAX_EVENTS_PER_SESSION: .*less than or equal to 10000"),
        ("max_string_length", 0, r"FRICTION_MAX_STRING_LENGTH: .*greater than 0"),
        ("reload_interval_s", -1, r"FRICTION_RELOAD_INTERVAL_S: .*greater than or equal to 0"),
        ("top_drivers", 50, r"FRICTION_TOP_DRIVERS: .*less than or equal to 20"),
        ("score_batch", 0, r"FRICTION_SCORE_BATCH: .*greater than or equal to 1"),
        ("score_batch", "many", r"FRICTION_SCORE_BATCH: .*valid integer"),
    ],
)
def test_bad_values_name_the_variable(
    env: pytest.MonkeyPatch, field: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(model="m", api_keys=KEY, **{field: value})


def test_model_is_required(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="FRICTION_MODEL: Field required"):
        load_settings(api_keys=KEY)


def test_importing_the_app_reads_nothing() -> None:
    """With no FRICTION_ variable at all, Settings() would refuse to build: importing must not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRICTION_")}
    done = subprocess.run(
        [sys.executable, "-c", "import serving.app, serving.routes.score, serving.routes.sessions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
