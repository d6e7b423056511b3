"""Model references, resolved and loaded in one place: a model directory, `runs:/RUN_ID/model`,
`models:/NAME@ALIAS`, `models:/NAME/VERSION`, or `models:/NAME/latest` (the highest version
number: the one rule for "latest").

    settings = TrackingSettings()                 # where runs and models live (environment)
    resolve("models:/friction@champion")          # -> Resolved: name, version, what to load
    load_model("models:/friction@champion")       # -> FrictionModel (sha256-checked plain files)

MLflow is imported only when a `runs:/` or `models:/` reference is used, and is talked to with
`MLFLOW_SAFE_ENVIRONMENT` set: it never unpickles a model or runs code it deserializes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.artifact import FrictionModel, manifest_bytes
from models.errors import RegistryError
from models.signing import Verifier

__all__ = [
    "MLFLOW_SAFE_ENVIRONMENT",
    "Resolved",
    "TrackingSettings",
    "load_model",
    "mlflow_client",
    "model_version",
    "model_versions",
    "resolve",
    "safe_environment",
]

# MLflow's switches, off wherever Friction talks to it: unpickling models, executing code it
# deserializes (custom scorers), and progress bars on the terminal.
MLFLOW_SAFE_ENVIRONMENT = {
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


class TrackingSettings(BaseSettings):
    """Where runs and models live. Built explicitly; reads the environment when constructed."""

    model_config = SettingsConfigDict(
        env_prefix="FRICTION_", extra="ignore", frozen=True, populate_by_name=True
    )

    tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "FRICTION_TRACKING_URI")
    )
    # Project-local folder of the embedded store.
    home: Path = Path(".friction")
    experiment: str = "friction"

    @property
    def embedded(self) -> bool:
        return not self.tracking_uri

    def uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def artifact_root(self) -> str | None:
        return (self.home / "mlartifacts").resolve().as_uri() if self.embedded else None


@contextmanager
def safe_environment() -> Iterator[None]:
    """`MLFLOW_SAFE_ENVIRONMENT` set for the block, the previous values restored after it."""
    saved = {key: os.environ.get(key) for key in MLFLOW_SAFE_ENVIRONMENT}
    os.environ.update(MLFLOW_SAFE_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def mlflow_client(settings: TrackingSettings) -> Any:
    """An MLflow client of the tracking and registry store (the embedded one's folder created)."""
    from mlflow import MlflowClient

    if settings.embedded:
        settings.home.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=settings.uri(), registry_uri=settings.uri())


def model_versions(client: Any, name: str) -> list[Any]:
    """The versions of registered model `name`, oldest first; refused when there are none."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise RegistryError(f"cannot list versions of registered model `{name}`: {exc.message}") from None
    if not found:
        raise RegistryError(
            f"registered model `{name}` has no versions; register one with `train --register`"
        )
    return sorted(found, key=lambda v: int(v.version))


def model_version(client: Any, uri: str) -> Any:
    """`models:/NAME@ALIAS`, `models:/NAME/VERSION` or `models:/NAME/latest` -> model version."""
    from mlflow.exceptions import MlflowException

    spec = uri.removeprefix("models:/").strip("/")
    try:
        if "@" in spec:
            name, alias = spec.split("@", 1)
            return client.get_model_version_by_alias(name, alias)
        name, _, version = spec.rpartition("/")
        if not name:
            raise RegistryError(f"`{uri}`: expected models:/NAME@ALIAS or models:/NAME/VERSION")
        if version == "latest":
            return model_versions(client, name)[-1]
        return client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"`{uri}` does not resolve to a model version: {exc.message}") from None


@dataclass(frozen=True)
class Resolved:
    """What a reference points to now: a name, a version, the reference that loads it, and how
    to name where it came from (`source`: the registry URI, or for a folder the sha256 of its
    MANIFEST.json; never a filesystem path)."""

    name: str
    version: str
    load_ref: str
    source: str = ""

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", self.load_ref)


def resolve(ref: str, settings: TrackingSettings | None = None) -> Resolved:
    """Cheap: one registry call for an alias or `latest`, one small file read for a directory."""
    if ref.startswith("runs:/"):
        run_id = ref.removeprefix("runs:/").split("/", 1)[0]
        return Resolved(f"run-{run_id}", run_id, ref)
    if not ref.startswith("models:/"):
        path = Path(ref)
        digest = hashlib.sha256(manifest_bytes(path)).hexdigest()
        return Resolved(path.resolve().name, f"sha256:{digest[:12]}", ref, f"sha256:{digest}")
    spec = ref.removeprefix("models:/").strip("/")
    name = spec.split("@", 1)[0] if "@" in spec else spec.rpartition("/")[0]
    if "@" not in spec and not spec.endswith("/latest"):
        return Resolved(name, spec.rpartition("/")[2], ref)
    version = str(model_version(mlflow_client(settings or TrackingSettings()), ref).version)
    return Resolved(name, version, f"models:/{name}/{version}")


def load_model(
    uri: str | Path, settings: TrackingSettings | None = None, verifier: Verifier | None = None
) -> FrictionModel:
    """A model from a directory, `runs:/RUN_ID/model`, or `models:/NAME@ALIAS` / `models:/NAME/VERSION`;
    with `verifier`, its signature is checked before anything else."""
    text = str(uri)
    if not text.startswith(("runs:/", "models:/")):
        return FrictionModel.load(Path(text), verifier)
    settings = settings or TrackingSettings()
    with safe_environment(), tempfile.TemporaryDirectory() as tmp:
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        source = text
        if text.startswith("models:/"):
            source = model_version(mlflow_client(settings), text).source
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=settings.uri()
            )
        except MlflowException as exc:
            raise RegistryError(f"`{text}` does not resolve to a model: {exc.message}") from None
        return FrictionModel.load(Path(local), verifier)
