"""Signed models: with a key configured, `score`, `report` and `serve` (at start and on hot
reload) refuse a model someone altered and re-hashed, or one that is unsigned; without a key
they load it and warn once."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow import MlflowClient
from typer.testing import CliRunner

from features.errors import ConfigError
from models.artifact import HASHES_FILE, SIGNATURE_FILE, FrictionModel
from models.errors import ModelIntegrityError
from models.signing import HmacKey, SigningSettings, load_signing
from pipelines.cli import app
from serving.loader import ModelHolder
from serving.metrics import Metrics
from tests.worlds import SmallWorld, TrainedWorld
from training.tracking import TrackingSettings, ensure_store, load_model

KEY = "0123456789abcdef0123456789abcdef-signing"
ROOT = Path(__file__).resolve().parents[2]
NO_KEYS: dict[str, str | None] = dict.fromkeys(
    ("FRICTION_SIGNING_KEY", "FRICTION_SIGNING_PRIVATE_KEY", "FRICTION_VERIFY_PUBLIC_KEY")
)
runner = CliRunner()


def _tamper_calibrator(folder: Path) -> None:
    """Invert the calibrator and recompute MANIFEST.json, as anyone who can write the folder can."""
    data = json.dumps({"kind": "platt", "a": -50.0, "b": 40.0, "x": [], "y": []}).encode()
    (folder / "calibrator.json").write_bytes(data)
    recorded = json.loads((folder / HASHES_FILE).read_text())
    recorded["files"]["calibrator.json"] = hashlib.sha256(data).hexdigest()
    (folder / HASHES_FILE).write_text(json.dumps(recorded))


@pytest.fixture(scope="module")
def features_path(world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signed") / "features.parquet"
    world.table.head(2_000).to_parquet(path, index=False)
    return path


@pytest.fixture
def signed(world_model: TrainedWorld, tmp_path: Path) -> Path:
    return world_model.model.save(tmp_path / "signed", signer=HmacKey(KEY.encode()))


@pytest.fixture
def tampered(signed: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "tampered"
    shutil.copytree(signed, folder)
    _tamper_calibrator(folder)
    FrictionModel.load(folder)  # the hashes alone accept it: only the signature catches it
    return folder


def _score(model: Path, features: Path, out: Path, env: dict[str, str | None]) -> tuple[int, list[str]]:
    args = ["score", "--model", str(model), "--features", str(features), "--out", str(out)]
    result = runner.invoke(app, args, env=env)
    return result.exit_code, result.stderr.strip().splitlines()


def _report(model: Path, features: Path, out: Path, env: dict[str, str | None]) -> tuple[int, list[str]]:
    result = runner.invoke(
        app, ["report", "--model", str(model), "--features", str(features), "--out", str(out)], env=env
    )
    return result.exit_code, result.stderr.strip().splitlines()


def _serve(model: Path, env: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--model", str(model), "--port", "1"]
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=base | {k: v for k, v in env.items() if v is not None} | {"FRICTION_AUTH_DISABLED": "true"},
    )


def test_a_rehashed_calibrator_is_refused_by_score_report_and_serve(
    tampered: Path, features_path: Path, tmp_path: Path
) -> None:
    env: dict[str, str | None] = NO_KEYS | {"FRICTION_SIGNING_KEY": KEY}
    code, lines = _score(tampered, features_path, tmp_path / "scores.parquet", env)
    assert code == 2
    assert lines == [
        f"friction score: error: {tampered}: the signature does not match MANIFEST.json; refusing the model"
    ]
    assert not (tmp_path / "scores.parquet").exists()
    code, lines = _report(tampered, features_path, tmp_path / "report", env)
    assert code == 2
    assert lines == [
        f"friction report: error: {tampered}: the signature does not match MANIFEST.json; refusing the model"
    ]
    done = _serve(tampered, env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"friction serve: error: {tampered}: the signature does not match MANIFEST.json; refusing the model"
    )


def test_a_signed_model_scores_and_an_unsigned_one_is_refused(
    world_model: TrainedWorld, signed: Path, features_path: Path, tmp_path: Path
) -> None:
    env: dict[str, str | None] = NO_KEYS | {"FRICTION_SIGNING_KEY": KEY}
    code, lines = _score(signed, features_path, tmp_path / "scores.parquet", env)
    assert code == 0, lines
    assert (tmp_path / "scores.parquet").exists()
    code, lines = _score(world_model.path, features_path, tmp_path / "unsigned.parquet", env)
    assert code == 2
    assert lines == [
        f"friction score: error: {world_model.path} is not signed ({SIGNATURE_FILE} is missing) and a "
        "hmac-sha256 key is configured; refusing an unsigned model"
    ]
    code, lines = _score(
        signed, features_path, tmp_path / "other.parquet", {"FRICTION_SIGNING_KEY": KEY + "x"}
    )
    assert code == 2
    assert "the signature does not match MANIFEST.json (signed by key" in lines[0]


def test_without_a_key_models_load_with_one_warning(
    tampered: Path, features_path: Path, tmp_path: Path
) -> None:
    code, lines = _score(tampered, features_path, tmp_path / "scores.parquet", NO_KEYS)
    assert code == 0
    warnings = [line for line in lines if "warning" in line]
    assert warnings == [
        f"friction score: warning: {tampered} is loaded without a signature check: set FRICTION_SIGNING_KEY "
        "or FRICTION_VERIFY_PUBLIC_KEY to refuse unsigned or altered models"
    ]


def test_hot_reload_refuses_a_rehashed_version(signed: Path, tmp_path: Path) -> None:
    metrics = Metrics()
    verifier = SigningSettings(signing_key=KEY).verifier()
    holder = ModelHolder(str(signed), None, metrics, verifier=verifier)
    assert holder.refresh()
    good = holder.current
    _tamper_calibrator(signed)
    assert not holder.refresh()
    assert holder.current is good
    assert metrics.registry.get_sample_value("friction_model_reload_failures_total") == 1.0


def _pem_pair(folder: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private, public = folder / "signing.pem", folder / "verify.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_ed25519_servers_verify_with_the_public_key_only(world_model: TrainedWorld, tmp_path: Path) -> None:
    private, public = _pem_pair(tmp_path)
    signer = SigningSettings(signing_private_key=private).signer()
    assert signer is not None
    folder = world_model.model.save(tmp_path / "model", signer=signer)
    server = SigningSettings(verify_public_key=public)
    assert server.signer() is None  # a server holding the public key cannot sign
    FrictionModel.load(folder, server.verifier())
    _tamper_calibrator(folder)
    with pytest.raises(ModelIntegrityError, match=r"the signature does not match MANIFEST\.json"):
        FrictionModel.load(folder, server.verifier())
    hmac_signed = world_model.model.save(tmp_path / "hmac", signer=HmacKey(KEY.encode()))
    with pytest.raises(
        ModelIntegrityError, match=r"uses algorithm 'hmac-sha256'; the configured key accepts only 'ed25519'"
    ):
        FrictionModel.load(hmac_signed, server.verifier())


def test_unusable_keys_are_one_line_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private, public = _pem_pair(tmp_path)
    cases = {
        (("FRICTION_SIGNING_KEY", "short"),): "shorter than 32 characters",
        (("FRICTION_SIGNING_KEY", KEY), ("FRICTION_VERIFY_PUBLIC_KEY", str(public))): "configure one scheme",
        (("FRICTION_VERIFY_PUBLIC_KEY", str(tmp_path / "none.pem")),): "cannot read",
        (("FRICTION_VERIFY_PUBLIC_KEY", str(private)),): "not a PEM public key",
        (("FRICTION_SIGNING_PRIVATE_KEY", str(public)),): "not a PEM private key",
    }
    for variables, reason in cases.items():
        for name in ("FRICTION_SIGNING_KEY", "FRICTION_VERIFY_PUBLIC_KEY", "FRICTION_SIGNING_PRIVATE_KEY"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables:
            monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=reason) as info:
            load_signing()
        assert "\n" not in str(info.value)


def test_train_signs_the_model_it_saves(world: SmallWorld, features_path: Path, tmp_path: Path) -> None:
    env = {
        "FRICTION_SIGNING_KEY": KEY,
        "FRICTION_HOME": str(tmp_path / ".friction"),
        "MLFLOW_TRACKING_URI": "",
    }
    args = ["train", "--config", str(world.paths["config"]), "--features", str(features_path)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "model")], env=env)
    assert result.exit_code == 0, result.output
    verifier = SigningSettings(signing_key=KEY).verifier()
    FrictionModel.load(tmp_path / "model", verifier)
    assert (tmp_path / "model" / SIGNATURE_FILE).exists()
    # The copy logged to MLflow (what `train --register` registers) is signed too.
    settings = TrackingSettings(home=tmp_path / ".friction")
    [run] = MlflowClient(tracking_uri=settings.uri()).search_runs([ensure_store(settings)], max_results=1)
    load_model(f"runs:/{run.info.run_id}/model", settings, verifier)
