"""The config file's own edges (issue 20, items 6 and 9): a non-UTF-8 friction.toml is one
ConfigError, and absolute paths in it are honoured, never replaced by a default."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.config import load_config
from features.errors import ConfigError
from features.featurize import Featurizer
from features.taxonomy import DEFAULT_TAXONOMY


def test_a_latin1_config_is_refused_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "friction.toml"
    path.write_bytes('[events]\nevent = "\u00e9v\u00e9nement"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"friction.toml: not UTF-8 text \(byte 0xe9 at offset 18\)"):
        load_config(path)


def test_a_folder_given_as_the_config_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_an_absolute_taxonomy_path_is_used(tmp_path: Path) -> None:
    taxonomy = tmp_path / "elsewhere" / "shop.toml"
    taxonomy.parent.mkdir()
    text = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    taxonomy.write_text(text + '\n[[rules]]\ntouchpoint = "loyalty"\nevent = "points_redeemed"\n')
    config_dir = tmp_path / "project"
    config_dir.mkdir()
    (config_dir / "friction.toml").write_text(f'[touchpoints]\ntaxonomy = "{taxonomy}"\n')
    config = load_config(config_dir / "friction.toml")
    assert config.touchpoints.taxonomy == taxonomy
    assert "loyalty" in Featurizer(config).taxonomy_.touchpoints


def test_an_absolute_taxonomy_path_to_a_non_taxonomy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "friction.toml").write_text('[touchpoints]\ntaxonomy = "/etc/passwd"\n')
    with pytest.raises(ConfigError, match="/etc/passwd: not valid TOML"):
        Featurizer(load_config(tmp_path / "friction.toml"))


def test_an_absolute_survey_path_is_kept(tmp_path: Path) -> None:
    surveys = tmp_path / "data" / "surveys.parquet"
    (tmp_path / "friction.toml").write_text(f'[label]\nkind = "survey"\n[label.survey]\npath = "{surveys}"\n')
    assert load_config(tmp_path / "friction.toml").label.survey.path == surveys  # type: ignore[union-attr]
