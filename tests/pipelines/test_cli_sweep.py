"""Every command, fed each class of bad input, ends with exit 2 and exactly one line on stderr
that names the problem, never a traceback (issue 20: items 6, 9, 10, 12, 13, 14, 15, 20).

In-process with Typer's `CliRunner`; the cases that would start a server stop before it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from typer.testing import CliRunner

from features.config import load_config
from pipelines.cli import app
from pipelines.features_job import run_features
from pipelines.simulator import simulate, write_world
from tests.worlds import TrainedWorld

runner = CliRunner()
# A case whose check failed would start a server in-process: bounded, never a hung suite.
pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]  # `{name}` fields are paths of the `inputs` fixture
    says: str  # in the one error line
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """`friction serve` exports its flags to the environment its workers inherit (e.g.
    `FRICTION_AUTH_DISABLED` for `--no-auth`); in-process, that would leak into later tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, world_model: TrainedWorld) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("sweep")
    paths = write_world(simulate(300, seed=4), folder / "world")
    config_text = paths["config"].read_text()
    files = {
        "binary": b"\xff\xfe\x00\x81 not text \x9c\x00",
        "empty": b"",
        "latin1.toml": config_text.encode() + "# caf\u00e9\n".encode("latin-1"),
        "gpu.toml": (config_text + '\n[train.lightgbm]\nextra = { device_type = "gpu" }\n').encode(),
        "passwd.toml": (config_text + '\n[touchpoints]\ntaxonomy = "/etc/passwd"\n').encode(),
        "survey.toml": config_text.replace('kind = "event"', 'kind = "survey"').encode()
        + f'\n[label.survey]\npath = "{folder / "no-such-surveys.parquet"}"\n'.encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    table = folder / "features.parquet"
    run_features(load_config(paths["config"]), paths["events"], table, folder / "q.parquet")
    flipped = bytearray(table.read_bytes())
    flipped[len(flipped) // 2 : len(flipped) // 2 + 64] = bytes(
        b ^ 0xFF for b in flipped[len(flipped) // 2 : len(flipped) // 2 + 64]
    )
    (folder / "flipped.parquet").write_bytes(bytes(flipped))
    (folder / "flipped.manifest.json").write_bytes(table.with_suffix(".manifest.json").read_bytes())
    (folder / "a-folder").mkdir()
    home = folder / "store"
    # The store exists before the cases: MLflow's lines about creating it are not the command's.
    created = runner.invoke(app, ["promote", "--name", "nobody"], env={"FRICTION_HOME": str(home)})
    assert created.exit_code == 2, created.output
    return {
        "dir": str(folder),
        "config": str(paths["config"]),
        "events": str(paths["events"]),
        "features": str(table),
        "model": str(world_model.path),
        "home": str(home),
        "missing": str(folder / "no-such-file"),
        "folder": str(folder / "a-folder"),
        "binary": str(folder / "binary"),
        "empty": str(folder / "empty"),
        "latin1": str(folder / "latin1.toml"),
        "gpu": str(folder / "gpu.toml"),
        "passwd": str(folder / "passwd.toml"),
        "survey": str(folder / "survey.toml"),
        "flipped": str(folder / "flipped.parquet"),
    }


CASES = [
    # simulate
    Case("simulate-sessions-0", ["simulate", "--sessions", "0", "--out", "{dir}/w"], "--sessions"),
    Case("simulate-seed-text", ["simulate", "--seed", "abc", "--out", "{dir}/w"], "--seed"),
    Case("simulate-out-is-a-file", ["simulate", "--out", "{binary}"], "--out"),
    Case("simulate-unknown-profile", ["simulate", "--profile", "nope", "--out", "{dir}/w"], "nope"),
    # demo
    Case("demo-sessions-0", ["demo", "--sessions", "0", "--out", "{dir}/d"], "--sessions"),
    # init
    Case("init-missing-events", ["init", "--events", "{missing}", "--out", "{dir}/i.toml"], "does not exist"),
    Case("init-empty-events", ["init", "--events", "{empty}", "--out", "{dir}/i.toml"], "empty"),
    # validate
    Case(
        "validate-missing-config", ["validate", "--config", "{missing}", "--events", "{events}"], "--config"
    ),
    Case(
        "validate-config-is-a-folder",
        ["validate", "--config", "{folder}", "--events", "{events}"],
        "directory",
    ),
    Case("validate-binary-config", ["validate", "--config", "{binary}", "--events", "{events}"], "not UTF-8"),
    Case("validate-latin1-config", ["validate", "--config", "{latin1}", "--events", "{events}"], "not UTF-8"),
    Case("validate-empty-events", ["validate", "--config", "{config}", "--events", "{empty}"], "empty"),
    Case(
        "validate-taxonomy-passwd",
        ["validate", "--config", "{passwd}", "--events", "{events}"],
        "/etc/passwd",
    ),
    # features
    Case(
        "features-binary-config",
        ["features", "--config", "{binary}", "--events", "{events}", "--out", "{dir}/f.parquet"],
        "not UTF-8",
    ),
    Case(
        "features-memory-budget-1",
        [
            "features",
            "--config",
            "{config}",
            "--events",
            "{events}",
            "--out",
            "{dir}/f.parquet",
            "--memory-budget",
            "1",
        ],
        "--memory-budget",
    ),
    Case(
        "features-unknown-engine",
        [
            "features",
            "--config",
            "{config}",
            "--events",
            "{events}",
            "--out",
            "{dir}/f.parquet",
            "--engine",
            "gpu",
        ],
        "--engine",
    ),
    Case(
        "features-missing-events",
        ["features", "--config", "{config}", "--events", "{missing}", "--out", "{dir}/f.parquet"],
        "does not exist",
    ),
    Case(
        "features-absolute-survey-path",
        ["features", "--config", "{survey}", "--events", "{events}", "--out", "{dir}/f.parquet"],
        "[label.survey] path",
    ),
    Case(
        "features-taxonomy-passwd",
        ["features", "--config", "{passwd}", "--events", "{events}", "--out", "{dir}/f.parquet"],
        "/etc/passwd",
    ),
    # train
    Case(
        "train-missing-features",
        ["train", "--config", "{config}", "--features", "{missing}"],
        "does not exist",
    ),
    Case("train-empty-features", ["train", "--config", "{config}", "--features", "{empty}"], "feature table"),
    Case(
        "train-flipped-features",
        ["train", "--config", "{config}", "--features", "{flipped}"],
        "does not match its manifest",
    ),
    Case(
        "train-tune-0", ["train", "--config", "{config}", "--features", "{features}", "--tune", "0"], "--tune"
    ),
    Case(
        "train-register-bad-name",
        ["train", "--config", "{config}", "--features", "{features}", "--register", "a/b"],
        "'a/b' is not a valid model name",
    ),
    Case("train-gpu-extra", ["train", "--config", "{gpu}", "--features", "{features}"], "device_type"),
    Case("train-binary-config", ["train", "--config", "{binary}", "--features", "{features}"], "not UTF-8"),
    # report
    Case(
        "report-missing-model",
        ["report", "--model", "{missing}", "--features", "{features}", "--out", "{dir}/r"],
        "no-such-file",
    ),
    Case(
        "report-bad-runs-ref",
        ["report", "--model", "runs:/nope/model", "--features", "{features}", "--out", "{dir}/r"],
        "runs:/nope/model",
    ),
    Case(
        "report-incident-z-0",
        ["report", "--model", "{model}", "--features", "{features}", "--out", "{dir}/r", "--incident-z", "0"],
        "--incident-z",
    ),
    Case(
        "report-flipped-features",
        ["report", "--model", "{model}", "--features", "{flipped}", "--out", "{dir}/r"],
        "does not match its manifest",
    ),
    # score
    Case(
        "score-bad-runs-ref",
        ["score", "--model", "runs:/", "--features", "{features}", "--out", "{dir}/s.parquet"],
        "runs:/",
    ),
    Case(
        "score-model-is-a-file",
        ["score", "--model", "{binary}", "--features", "{features}", "--out", "{dir}/s.parquet"],
        "binary",
    ),
    Case(
        "score-top-0",
        ["score", "--model", "{model}", "--features", "{features}", "--out", "{dir}/s.parquet", "--top", "0"],
        "--top",
    ),
    Case(
        "score-empty-features",
        ["score", "--model", "{model}", "--features", "{empty}", "--out", "{dir}/s.parquet"],
        "feature table",
    ),
    Case(
        "score-flipped-features",
        ["score", "--model", "{model}", "--features", "{flipped}", "--out", "{dir}/s.parquet"],
        "does not match its manifest",
    ),
    # promote
    Case("promote-bad-name", ["promote", "--name", "a:b"], "'a:b' is not a valid model name"),
    Case("promote-no-name", ["promote"], "--name"),
    # retrain
    Case(
        "retrain-bad-name",
        ["retrain", "--config", "{config}", "--events", "{events}", "--name", "a/b", "--out", "{dir}/rt"],
        "'a/b' is not a valid model name",
    ),
    Case(
        "retrain-binary-config",
        ["retrain", "--config", "{binary}", "--events", "{events}", "--name", "shop", "--out", "{dir}/rt"],
        "not UTF-8",
    ),
    Case(
        "retrain-gpu-extra",
        ["retrain", "--config", "{gpu}", "--events", "{events}", "--name", "shop", "--out", "{dir}/rt"],
        "device_type",
    ),
    # serve (each fails before a port is bound)
    Case("serve-port-0", ["serve", "--model", "{model}", "--port", "0"], "--port"),
    Case("serve-workers-0", ["serve", "--model", "{model}", "--workers", "0"], "--workers"),
    Case("serve-missing-model", ["serve", "--model", "{missing}", "--no-auth"], "no-such-file"),
    Case("serve-bad-runs-ref", ["serve", "--model", "runs:/nope/model", "--no-auth"], "runs:/nope/model"),
    Case(
        "serve-missing-playbook",
        ["serve", "--model", "{model}", "--no-auth"],
        "FRICTION_PLAYBOOK_PATH",
        {"FRICTION_PLAYBOOK_PATH": "{missing}"},
    ),
    Case(
        "serve-binary-playbook",
        ["serve", "--model", "{model}", "--no-auth"],
        "not UTF-8",
        {"FRICTION_PLAYBOOK_PATH": "{binary}"},
    ),
    Case(
        "serve-playbook-is-a-folder",
        ["serve", "--model", "{model}", "--no-auth"],
        "folder",
        {"FRICTION_PLAYBOOK_PATH": "{folder}"},
    ),
    # any command
    Case("unknown-command", ["frobnicate"], "No such command"),
    Case("unknown-flag", ["features", "--colour"], "--colour"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_and_exit_2(case: Case, inputs: dict[str, str]) -> None:
    env = {"FRICTION_HOME": inputs["home"], "MLFLOW_TRACKING_URI": "", "FRICTION_PLAYBOOK_PATH": None}
    env |= {key: value.format(**inputs) for key, value in case.env.items()}
    result = runner.invoke(app, [arg.format(**inputs) for arg in case.args], env=env)
    assert result.exit_code == 2, (result.exception, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("friction"), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert case.says in lines[0], lines[0]
