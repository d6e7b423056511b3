"""Temporary entries carry their owner's pid: a later run removes those of dead processes only,
and completes the commits they had journalled (issue 20, items 18 and 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.writers import commit_together, scratch_folder, staged_path, sweep_litter


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_temporary_files_and_spill_folders_are_named_for_their_owner(tmp_path: Path) -> None:
    target = tmp_path / "features.parquet"
    with staged_path(target) as tmp:
        assert tmp.name.startswith(f".features.parquet.{os.getpid()}.")
        assert tmp.name.endswith(".tmp")
    spill = scratch_folder(target)
    assert spill.name.startswith(f".features.parquet.{os.getpid()}.")
    assert spill.name.endswith(".spill")


def test_the_litter_of_a_dead_owner_is_removed_and_a_live_ones_is_kept(tmp_path: Path, dead_pid: int) -> None:
    target = tmp_path / "features.parquet"
    dead_file = tmp_path / f".features.parquet.{dead_pid}.abcd1234.tmp"
    dead_spill = tmp_path / f".features.parquet.{dead_pid}.efgh5678.spill"
    nested = tmp_path / f"..features.parquet.{dead_pid}.abcd1234.tmp.{dead_pid}.ijkl9012.tmp"
    live_file = tmp_path / f".features.parquet.{os.getpid()}.mnop3456.tmp"
    other_target = tmp_path / f".features.parquet.1.{dead_pid}.qrst7890.tmp"  # of `features.parquet.1`
    for path in (dead_file, nested, live_file, other_target):
        path.write_bytes(b"x")
    (dead_spill / "events").mkdir(parents=True)
    (dead_spill / "events" / "part-0.parquet").write_bytes(b"x")

    removed = sweep_litter(target)

    assert sorted(removed) == sorted([dead_file, dead_spill, nested])
    assert live_file.exists()
    assert other_target.exists()
    assert not target.exists()


def test_a_journalled_commit_of_a_dead_owner_is_completed(tmp_path: Path, dead_pid: int) -> None:
    table, manifest = tmp_path / "features.parquet", tmp_path / "features.manifest.json"
    table.write_text("new table")  # renamed before the kill
    manifest.write_text("old manifest")
    staged_manifest = tmp_path / f".features.manifest.json.{dead_pid}.abcd1234.tmp"
    staged_manifest.write_text("new manifest")
    journal = tmp_path / f".features.parquet.{dead_pid}.efgh5678.commit"
    renames = [
        [f".features.parquet.{dead_pid}.ijkl9012.tmp", table.name],
        [staged_manifest.name, manifest.name],
    ]
    journal.write_text(json.dumps({"renames": renames}))

    sweep_litter(table)

    assert (table.read_text(), manifest.read_text()) == ("new table", "new manifest")
    assert sorted(os.listdir(tmp_path)) == [manifest.name, table.name]


def test_commit_together_renames_both_and_leaves_nothing(tmp_path: Path) -> None:
    table, manifest = tmp_path / "t.parquet", tmp_path / "t.manifest.json"
    with staged_path(table) as staged_table, staged_path(manifest) as staged_manifest:
        staged_table.write_text("table")
        staged_manifest.write_text("manifest")
        commit_together({table: staged_table, manifest: staged_manifest})
    assert (table.read_text(), manifest.read_text()) == ("table", "manifest")
    assert sorted(os.listdir(tmp_path)) == [manifest.name, table.name]


def test_a_journal_renaming_outside_the_folder_is_not_followed(tmp_path: Path, dead_pid: int) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    journal = folder / f".features.parquet.{dead_pid}.efgh5678.commit"
    journal.write_text(json.dumps({"renames": [["../precious.txt", "features.parquet"]]}))

    sweep_litter(folder / "features.parquet")

    assert outside.read_text() == "keep"
    assert not (folder / "features.parquet").exists()
    assert not journal.exists()  # a dead owner's litter all the same
