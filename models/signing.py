"""Model signatures: which models the commands and the API agree to load.

`MANIFEST.json` lists the sha256 of every file of a model folder, so a signature over its exact
bytes covers the whole folder. The signature is `SIGNATURE.json` beside it:
`{"algorithm": ..., "key_id": ..., "signature": hex}`. Two schemes, one configured at a time:

    hmac-sha256   FRICTION_SIGNING_KEY, a shared secret: whoever verifies can also sign
    ed25519       FRICTION_SIGNING_PRIVATE_KEY (PEM file) where models are trained, and
                  FRICTION_VERIFY_PUBLIC_KEY (PEM file) where they are loaded: servers hold
                  only the public key and cannot sign

With a key configured, `Verifier.check` refuses a model that is unsigned, signed under another
scheme or key, or whose signature does not match. With none, it accepts and warns once.
`SigningSettings` reads the environment (and the key files) only when it is built.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import ConfigError
from models.errors import ModelIntegrityError

__all__ = [
    "ED25519",
    "HMAC",
    "MIN_SIGNING_KEY_LENGTH",
    "SIGNATURE_FILE",
    "Ed25519Key",
    "HmacKey",
    "Signer",
    "SigningSettings",
    "Verifier",
    "load_signing",
    "signature_bytes",
]

SIGNATURE_FILE = "SIGNATURE.json"
HMAC = "hmac-sha256"
ED25519 = "ed25519"
# HMAC-SHA256 keys shorter than the hash are weaker than it; `openssl rand -hex 32` gives 64.
MIN_SIGNING_KEY_LENGTH = 32


class _Key(Protocol):
    @property
    def algorithm(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def valid(self, message: bytes, signature: bytes) -> bool: ...


class Signer(_Key, Protocol):
    def sign(self, message: bytes) -> bytes: ...


def _key_id(material: bytes) -> str:
    # Names the key in errors (which key signed, which one was expected); reveals nothing usable.
    return hashlib.sha256(b"friction-model-key\0" + material).hexdigest()[:16]


@dataclass(frozen=True)
class HmacKey:
    secret: bytes = field(repr=False)
    algorithm: str = HMAC

    @property
    def key_id(self) -> str:
        return _key_id(self.secret)

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def valid(self, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


@dataclass(frozen=True)
class Ed25519Key:
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = field(default=None, repr=False)
    algorithm: str = ED25519

    @property
    def key_id(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _key_id(raw)

    def sign(self, message: bytes) -> bytes:
        if self.private is None:
            raise ModelIntegrityError("this Ed25519 key is public only: it verifies models, it cannot sign")
        return self.private.sign(message)

    def valid(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def signature_bytes(key: Signer, manifest: bytes) -> bytes:
    """`SIGNATURE.json` for the exact bytes of `MANIFEST.json`."""
    record = {"algorithm": key.algorithm, "key_id": key.key_id, "signature": key.sign(manifest).hex()}
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


@dataclass
class Verifier:
    """Checks `SIGNATURE.json` against the configured key; with no key, warns once (through
    `warn`) that models are loaded unverified."""

    key: _Key | None
    warn: Callable[[str], None] = lambda message: None
    _warned: bool = False

    def check(self, manifest: bytes, signature: bytes | None, source: str) -> None:
        if self.key is None:
            if not self._warned:
                self._warned = True
                self.warn(
                    f"{source} is loaded without a signature check: set FRICTION_SIGNING_KEY or "
                    "FRICTION_VERIFY_PUBLIC_KEY to refuse unsigned or altered models"
                )
            return
        if signature is None:
            raise ModelIntegrityError(
                f"{source} is not signed ({SIGNATURE_FILE} is missing) and a {self.key.algorithm} key "
                "is configured; refusing an unsigned model"
            )
        algorithm, key_id, value = _parse_signature(signature, source)
        if algorithm != self.key.algorithm:
            raise ModelIntegrityError(
                f"{source}: {SIGNATURE_FILE} uses algorithm {algorithm!r}; the configured key "
                f"accepts only {self.key.algorithm!r}"
            )
        if not self.key.valid(manifest, value):
            known = (
                "" if key_id == self.key.key_id else f" (signed by key {key_id}, expected {self.key.key_id})"
            )
            raise ModelIntegrityError(
                f"{source}: the signature does not match MANIFEST.json{known}; refusing the model"
            )


def _parse_signature(data: bytes, source: str) -> tuple[str, str, bytes]:
    try:
        record = json.loads(data)
        algorithm, key_id, value = record["algorithm"], record["key_id"], bytes.fromhex(record["signature"])
    except (ValueError, KeyError, TypeError):
        raise ModelIntegrityError(f"{source}: {SIGNATURE_FILE} is not a valid signature record") from None
    if not (isinstance(algorithm, str) and isinstance(key_id, str)):
        raise ModelIntegrityError(f"{source}: {SIGNATURE_FILE} is not a valid signature record")
    return algorithm[:40], key_id[:40], value


def _pem(path: Path, setting: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path} ({exc.strerror})") from None
    if len(data) > 64 * 1024:
        raise ValueError(f"{setting}: {path} is not a PEM key file (over 64 KiB)")
    return data


def _private_key(path: Path) -> Ed25519Key:
    setting = "FRICTION_SIGNING_PRIVATE_KEY"
    data = _pem(path, setting)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = "it is encrypted" if isinstance(exc, TypeError) else "not a PEM private key"
        raise ValueError(f"{setting}: {path} cannot be used ({reason})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{setting}: {path} holds a {type(key).__name__}; an Ed25519 key is required")
    return Ed25519Key(public=key.public_key(), private=key)


def _public_key(path: Path) -> Ed25519Key:
    setting = "FRICTION_VERIFY_PUBLIC_KEY"
    data = _pem(path, setting)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{setting}: {path} cannot be used (not a PEM public key)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{setting}: {path} holds a {type(key).__name__}; an Ed25519 key is required")
    return Ed25519Key(public=key)


class SigningSettings(BaseSettings):
    """The model-signing keys, from `FRICTION_*`; key files are read when this is built."""

    model_config = SettingsConfigDict(env_prefix="FRICTION_", extra="ignore", populate_by_name=True)

    signing_key: SecretStr | None = None
    signing_private_key: Path | None = None
    verify_public_key: Path | None = None

    _signing: Signer | None = PrivateAttr(default=None)
    _verifying: _Key | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_keys(self) -> SigningSettings:
        ed25519 = self.signing_private_key is not None or self.verify_public_key is not None
        if self.signing_key is not None and ed25519:
            raise ValueError(
                "FRICTION_SIGNING_KEY (HMAC) and an Ed25519 key (FRICTION_SIGNING_PRIVATE_KEY / "
                "FRICTION_VERIFY_PUBLIC_KEY) are both set; configure one scheme"
            )
        if self.signing_key is not None:
            secret = self.signing_key.get_secret_value()
            if len(secret) < MIN_SIGNING_KEY_LENGTH:
                raise ValueError(
                    f"FRICTION_SIGNING_KEY is shorter than {MIN_SIGNING_KEY_LENGTH} characters; "
                    "use a long random key (e.g. `openssl rand -hex 32`)"
                )
            self._signing = self._verifying = HmacKey(secret.encode())
        if self.signing_private_key is not None:
            self._signing = self._verifying = _private_key(self.signing_private_key)
        if self.verify_public_key is not None:
            public = _public_key(self.verify_public_key)
            if self._signing is not None and self._signing.key_id != public.key_id:
                raise ValueError(
                    "FRICTION_VERIFY_PUBLIC_KEY is not the public half of FRICTION_SIGNING_PRIVATE_KEY"
                )
            self._verifying = public
        return self

    def signer(self) -> Signer | None:
        """The key models are signed with when saved (None: they are saved unsigned)."""
        return self._signing

    def verifier(self, warn: Callable[[str], None] = lambda message: None) -> Verifier:
        """What loading checks signatures with (no key: accept, and `warn` once)."""
        return Verifier(self._verifying, warn)


def load_signing() -> SigningSettings:
    """`SigningSettings` from the environment, a one-line `ConfigError` if a key is unusable."""
    try:
        return SigningSettings()
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"model signing: {reasons}") from None
