"""A `friction features` process killed with SIGKILL at each point of its write leaves the
table/manifest pair as it was or as the new run made it, never mixed, and the next run removes
what the killed one left behind (issue 20, items 18 and 19)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from features.config import load_config
from features.digests import file_sha256
from pipelines.crashpoints import PAUSE_AT, PAUSE_FILE
from pipelines.feature_table import check_table
from pipelines.features_job import run_features
from pipelines.simulator import simulate, write_world

ROOT = Path(__file__).resolve().parents[2]
PAUSE_TIMEOUT_S = 120.0
pytestmark = pytest.mark.slow  # real subprocesses
# Before the journal, a killed run changed nothing; from the journal on, its commit completes.
BEFORE_COMMIT = ["features:table-staged", "features:manifest-staged"]
AFTER_COMMIT = ["commit:journal-written", "commit:renamed-1", "commit:renamed-2"]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The config and two different event files (the old table's input, the new one's)."""
    folder = tmp_path_factory.mktemp("crash-worlds")
    old = write_world(simulate(300, seed=1), folder / "old")
    new = write_world(simulate(500, seed=2), folder / "new")
    return old["config"], old["events"], new["events"]


def _litter(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def _killed_at(point: str, command: list[str], folder: Path) -> None:
    """Run `command` until it reaches `point`, then SIGKILL it."""
    marker = folder / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT), PAUSE_AT: point, PAUSE_FILE: str(marker)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + PAUSE_TIMEOUT_S
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"the job ended before {point}: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail(f"the job did not reach {point} in {PAUSE_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL


def _pair(out: Path) -> tuple[dict[str, object], str]:
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    return manifest, file_sha256(out)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", BEFORE_COMMIT + AFTER_COMMIT)
def test_a_kill_leaves_the_old_or_the_new_pair_and_the_next_run_cleans_up(
    point: str, worlds: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    config_path, old_events, new_events = worlds
    config = load_config(config_path)
    out = tmp_path / "features.parquet"
    run_features(config, old_events, out, tmp_path / "old.quarantine.parquet")
    old_manifest, old_digest = _pair(out)
    assert _litter(tmp_path) == []

    command = [sys.executable, "-m", "pipelines.cli", "features", "--config", str(config_path)]
    _killed_at(point, [*command, "--events", str(new_events), "--out", str(out)], tmp_path)
    left = _litter(tmp_path)
    assert left, "a kill mid-write leaves its temporary files (the next run removes them)"
    assert all(f".{os.getpid()}." not in name for name in left)  # the killed process's, not ours
    manifest, digest = _pair(out)
    if digest != manifest["table"]["sha256"]:  # type: ignore[index]
        # Only between the two renames, and then the journal says how to finish.
        assert point == "commit:renamed-1"
        assert any(name.endswith(".commit") for name in left)

    check_table(out)  # what train, score and report do first: completes a dead commit
    manifest, digest = _pair(out)
    assert digest == manifest["table"]["sha256"]  # type: ignore[index]
    expected = old_events if point in BEFORE_COMMIT else new_events
    assert manifest["input"]["path"] == str(expected)  # type: ignore[index]
    if point in BEFORE_COMMIT:
        assert (manifest, digest) == (old_manifest, old_digest)

    run_features(config, new_events, out, tmp_path / "new.quarantine.parquet")
    assert _litter(tmp_path) == []
    manifest, digest = _pair(out)
    assert digest == manifest["table"]["sha256"]  # type: ignore[index]


@pytest.mark.timeout(300)
def test_a_kill_while_streaming_leaves_a_spill_folder_the_next_run_removes(
    worlds: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    config_path, _, new_events = worlds
    out = tmp_path / "features.parquet"
    job = (
        "import sys; from pathlib import Path; from features.config import load_config; "
        "from pipelines.features_job import run_features; "
        "run_features(load_config(Path(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3]), "
        "Path(sys.argv[4]), streaming=True)"
    )
    quarantine = tmp_path / "q.parquet"
    command = [sys.executable, "-c", job, str(config_path), str(new_events), str(out), str(quarantine)]
    _killed_at("streaming:spilled", command, tmp_path)
    left = _litter(tmp_path)
    assert any(name.endswith(".spill") for name in left)
    assert not out.exists()

    run_features(load_config(config_path), new_events, out, quarantine, streaming=True)
    assert _litter(tmp_path) == []
    check_table(out)
