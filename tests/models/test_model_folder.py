"""A model folder is read without trusting it: every entry checked, sizes capped before
reading, JSON nesting bounded, and no error quoting a file's content."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from models.artifact import HASHES_FILE, FrictionModel, manifest_bytes
from models.errors import ModelIntegrityError


@pytest.fixture
def saved(model: FrictionModel, tmp_path: Path) -> Path:
    return model.save(tmp_path / "model")


def _rehash(folder: Path, name: str, data: bytes) -> None:
    """What someone with write access does: change a file and recompute MANIFEST.json."""
    (folder / name).write_bytes(data)
    recorded = json.loads((folder / HASHES_FILE).read_text())
    recorded["files"][name] = hashlib.sha256(data).hexdigest()
    (folder / HASHES_FILE).write_text(json.dumps(recorded))


def test_a_symlink_out_of_the_folder_is_refused_unread(saved: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes((saved / "card.json").read_bytes())
    (saved / "card.json").unlink()
    (saved / "card.json").symlink_to(outside)
    with pytest.raises(ModelIntegrityError, match=r"card\.json is a symlink; refusing the model"):
        FrictionModel.load(saved)


def test_a_symlink_pointing_inside_the_folder_is_refused(saved: Path) -> None:
    (saved / "card.json").unlink()
    (saved / "card.json").symlink_to(saved / "metrics.json")
    with pytest.raises(ModelIntegrityError, match=r"card\.json is a symlink; refusing the model"):
        FrictionModel.load(saved)


def test_a_symlinked_manifest_is_refused(saved: Path, tmp_path: Path) -> None:
    (saved / HASHES_FILE).rename(tmp_path / "elsewhere.json")
    (saved / HASHES_FILE).symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ModelIntegrityError, match=r"MANIFEST\.json is a symlink"):
        FrictionModel.load(saved)
    with pytest.raises(ModelIntegrityError, match=r"MANIFEST\.json is a symlink"):
        manifest_bytes(saved)


def test_a_fifo_is_refused_without_blocking(saved: Path) -> None:
    os.mkfifo(saved / "extra")
    started = time.perf_counter()
    with pytest.raises(ModelIntegrityError, match=r"unexpected a FIFO extra"):
        FrictionModel.load(saved)
    (saved / "extra").unlink()
    (saved / "card.json").unlink()
    os.mkfifo(saved / "card.json")  # an expected name that is not a regular file
    with pytest.raises(ModelIntegrityError, match=r"card\.json is a FIFO"):
        FrictionModel.load(saved)
    assert time.perf_counter() - started < 5


def test_an_unlisted_file_in_a_subfolder_is_refused(saved: Path) -> None:
    (saved / "sub").mkdir()
    (saved / "sub" / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelIntegrityError, match=r"unexpected a folder sub in the model folder"):
        FrictionModel.load(saved)


@pytest.mark.parametrize("name", [HASHES_FILE, "metrics.json"])
def test_an_oversized_file_is_refused_before_it_is_read(saved: Path, name: str) -> None:
    with open(saved / name, "r+b") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: 200 MB by stat, nothing on disk
    started = time.perf_counter()
    with pytest.raises(
        ModelIntegrityError, match=rf"{name} is 209,715,200 bytes, over its [\d,]+-byte limit"
    ):
        FrictionModel.load(saved)
    assert time.perf_counter() - started < 1.0  # reading 200 MB of zeros would take longer


@pytest.mark.parametrize("name", [HASHES_FILE, "metrics.json", "featurizer.json", "card.json"])
def test_deeply_nested_json_is_a_one_line_error(saved: Path, name: str) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    if name == HASHES_FILE:
        (saved / name).write_bytes(nested)
    else:
        _rehash(saved, name, nested)
    with pytest.raises(
        ModelIntegrityError, match=rf"{name} is not valid JSON \(recursion limit exceeded"
    ) as info:
        FrictionModel.load(saved)
    assert "\n" not in str(info.value)


def test_a_rehashed_card_holding_another_file_does_not_echo_it(saved: Path) -> None:
    secret = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    _rehash(saved, "card.json", secret)
    with pytest.raises(ModelIntegrityError) as info:
        FrictionModel.load(saved)
    assert "/bin/bash" not in str(info.value)
    assert "nologin" not in str(info.value)
    _rehash(saved, "card.json", json.dumps({"created_at": secret.decode()}).encode())
    with pytest.raises(ModelIntegrityError, match=r"card.json|does not parse") as info:
        FrictionModel.load(saved)
    assert "/bin/bash" not in str(info.value)
    assert "nologin" not in str(info.value)


def test_a_rehashed_broken_booster_does_not_echo_it(saved: Path) -> None:
    _rehash(saved, "model.txt", b"tree\nversion=v4\nsecret line: hunter2\n")
    with pytest.raises(ModelIntegrityError, match=r"model\.txt is not a LightGBM text model") as info:
        FrictionModel.load(saved)
    assert "hunter2" not in str(info.value)


def test_the_manifest_algorithm_is_enforced(saved: Path) -> None:
    recorded = json.loads((saved / HASHES_FILE).read_text())
    recorded["algorithm"] = "md5"
    (saved / HASHES_FILE).write_text(json.dumps(recorded))
    with pytest.raises(ModelIntegrityError, match=r"records algorithm 'md5'; only 'sha256' is accepted"):
        FrictionModel.load(saved)
    del recorded["algorithm"]
    (saved / HASHES_FILE).write_text(json.dumps(recorded))
    with pytest.raises(ModelIntegrityError, match=r"records algorithm None"):
        FrictionModel.load(saved)


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="needs /etc/passwd")
def test_a_card_linked_to_etc_passwd_is_refused_without_its_content(saved: Path) -> None:
    (saved / "card.json").unlink()
    (saved / "card.json").symlink_to("/etc/passwd")
    with pytest.raises(ModelIntegrityError, match=r"card\.json is a symlink; refusing the model") as info:
        FrictionModel.load(saved)
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert first_line not in str(info.value)
    assert "/bin/" not in str(info.value)
