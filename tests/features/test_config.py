from __future__ import annotations

from pathlib import Path

import pytest

from features.config import EventsConfig, FrictionConfig, load_config, parse_config
from features.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "friction.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_config_loads_typed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[events]
preset = "snowplow"
session_id = "domain_sessionid"
context = {channel = "mkt_medium"}
timestamp_unit = "ms"

[quality]
max_bad_row_rate = 0.05

[sessions]
gap_minutes = 20

[label]
kind = "survey"
[label.survey]
path = "surveys/csat.csv"
threshold = 2
""",
    )
    config = load_config(path)
    assert config.events.preset == "snowplow"
    assert config.events.explicit_columns() == {"session_id": "domain_sessionid"}
    assert config.events.context_columns() == {"channel": "mkt_medium"}
    assert config.quality.max_bad_row_rate == 0.05
    assert config.label.survey is not None
    assert config.label.survey.path == tmp_path.resolve() / "surveys/csat.csv"


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == FrictionConfig()
    assert FrictionConfig().quality.max_bad_row_rate == 0.01


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[evnts]\n",
            r"unknown key `evnts` \(did you mean `events`\?\); allowed here: "
            r"events, label, playbook, quality",
        ),
        ("[events]\nsesion_id = 'sid'\n", r"unknown key `events.sesion_id` \(did you mean `session_id`\?\)"),
        (
            "[[touchpoints.rules]]\ntouchpoint = 'cart'\nevnt = 'add'\n",
            r"unknown key `touchpoints.rules.0.evnt` \(did you mean `event`\?\); allowed here: .*touchpoint",
        ),
        ("[sessions]\ngap_minutes = 'thirty'\n", r"`sessions.gap_minutes`: .*valid number.*\(got 'thirty'\)"),
        (
            "[quality]\nmax_bad_row_rate = 1.5\n",
            r"`quality.max_bad_row_rate`: .*less than or equal to 1 \(got 1.5\)",
        ),
        (
            "[events]\npreset = 'ga5'\n",
            r"`events.preset`: .*'custom', 'ga4'.*\(got 'ga5'\) \(did you mean `ga4`\?\)",
        ),
        (
            "[events]\ntimestamp_unit = 'seconds'\n",
            r"`events.timestamp_unit`: .*'auto', 's', 'ms', 'us' or 'ns'",
        ),
        (
            "[events]\ncontext = 'platform'\n",
            r"`events.context`: must be a list of raw column names or a table",
        ),
        ("[events]\ncontext = ['event']\n", r"context column 'event' clashes with the canonical column"),
        ("[events]\ncontext = {'1st' = 'a'}\n", r"context name '1st' must be letters, digits and `_`"),
        ("[events]\ntimestamp = ' '\n", r"`events.timestamp`: a raw column name cannot be empty"),
        (
            "[label]\nkind = 'survey'\n",
            r"`label`: kind = 'survey' needs a \[label.survey\] table with `path`",
        ),
        (
            "[label]\nkind = 'survey'\n[label.survey]\nscore = 'csat'\n",
            r"`label.survey.path`: Field required",
        ),
        ("[playbook]\npayment = 'offer help'\n", r"`playbook`: .*action for 'payment' must be an identifier"),
        ("[playbook]\n'pay-ment' = 'open_chat'\n", r"`playbook`: .*key 'pay-ment' must be a touchpoint"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        load_config(write(tmp_path, "[events\n"))
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere.toml"):
        load_config(tmp_path / "nowhere.toml")


def test_explicit_columns_are_only_the_written_keys() -> None:
    assert EventsConfig().explicit_columns() == {}
    config = parse_config({"events": {"preset": "ga4", "event": "name", "x": "click_x"}})
    assert config.events.explicit_columns() == {"event": "name", "x": "click_x"}
    assert EventsConfig(context=["device.category", "geo-country"]).context_columns() == {
        "device_category": "device.category",
        "geo_country": "geo-country",
    }


def test_config_is_frozen() -> None:
    config = parse_config({})
    with pytest.raises(ValueError, match="frozen"):
        config.events.preset = "ga4"  # type: ignore[misc]


def test_train_and_playbook_sections_are_kept(tmp_path: Path) -> None:
    text = "[train]\nholdout_fraction = 0.3\n[playbook]\npayment = 'offer_alternative_payment'\n"
    config = load_config(write(tmp_path, text))
    assert config.train == {"holdout_fraction": 0.3}  # validated by training, not here
    assert config.playbook == {"payment": "offer_alternative_payment"}
