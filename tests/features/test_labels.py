"""Labels: the event-label leakage cutoff, column labels and survey labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.config import FrictionConfig, parse_config
from features.errors import ConfigError, DataQualityError, SchemaError
from features.featurize import Featurizer
from features.labels import LabelConfig, SurveyLabelConfig, attach_survey_labels
from features.schema import TIMESTAMP_DTYPE

T0 = pd.Timestamp("2024-03-04T09:00:00Z")


def frame(rows: list[tuple[str, float, str, str]], **columns: Any) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=["session_id", "t", "event", "page"]).assign(user_id="u1", **columns)
    data["timestamp"] = (T0 + pd.to_timedelta(data.pop("t"), unit="s")).astype(TIMESTAMP_DTYPE)
    return data


def test_features_see_only_events_strictly_before_the_first_label_event() -> None:
    events = frame(
        [
            ("s1", 0, "page_view", "/checkout/payment"),
            ("s1", 5, "error", "/checkout/payment"),
            ("s1", 9, "page_view", "/cart"),  # same instant as the label event: left out
            ("s1", 9, "support_chat", "/help/chat"),
            ("s1", 15, "error", "/checkout/payment"),
            ("s1", 20, "complaint", "/help/complaint"),
            ("s2", 0, "page_view", "/"),
        ]
    )
    result = Featurizer()(events)
    row = result.frame.set_index("session_id").loc["s1"]
    assert (row["session__events"], row["payment__errors"], row["cart__visits"]) == (2, 1, 0)
    assert row["help__visits"] == 0  # label events never become features
    assert row["session_end"] == T0 + pd.Timedelta(seconds=5)
    assert result.frame["label"].tolist() == [1.0, 0.0]
    assert result.frame["label_known"].all()
    assert result.counts["label_events"] == 2
    assert result.counts["events_after_cutoff"] == 2
    assert result.counts["events_in"] == result.counts["events_used"] + 2 + 2


def test_a_session_that_opens_with_a_label_event_has_no_row() -> None:
    events = frame(
        [("s1", 0, "complaint", "/help/x"), ("s1", 3, "page_view", "/"), ("s2", 0, "page_view", "/")]
    )
    result = Featurizer()(events)
    assert result.frame["session_id"].tolist() == ["s2"]
    assert result.counts["sessions_without_journey_events"] == 1


def test_label_events_come_from_config() -> None:
    config = parse_config({"label": {"events": ["refund_request"]}})
    events = frame(
        [
            ("s1", 0, "page_view", "/"),
            ("s1", 5, "refund_request", "/account"),
            ("s2", 0, "complaint", "/help/x"),
        ]
    )
    table = Featurizer(config)(events).frame
    assert table["label"].tolist() == [1.0, 0.0]
    assert table["help__visits"].tolist() == [0.0, 1.0]  # a complaint is a plain event here


def test_column_labels_keep_unknown_sessions_flagged() -> None:
    config = parse_config({"label": {"kind": "column", "column": "churned"}})
    events = frame(
        [
            ("a", 0, "page_view", "/"),
            ("a", 1, "click", "/"),
            ("b", 0, "page_view", "/"),
            ("c", 0, "page_view", "/"),
        ],
        churned=[np.nan, 1.0, 0.0, np.nan],
    )
    table = Featurizer(config)(events).frame
    assert table["label"].fillna(-1).tolist() == [1.0, 0.0, -1]
    assert table["label_known"].tolist() == [True, True, False]
    assert "context__churned" not in table.columns


def test_column_labels_must_be_zero_or_one() -> None:
    config = parse_config({"label": {"kind": "column", "column": "churned"}})
    events = frame([("a", 0, "page_view", "/")], churned=[3.0])
    with pytest.raises(DataQualityError, match=r"label column `churned` must hold 0 or 1 .*found 3"):
        Featurizer(config)(events)


def test_a_missing_label_column_leaves_every_session_unlabelled() -> None:
    config = parse_config({"label": {"kind": "column", "column": "churned"}})
    table = Featurizer(config)(frame([("a", 0, "page_view", "/")])).frame
    assert not table["label_known"].any()


# --- survey labels ---


def survey_config(**kwargs: Any) -> LabelConfig:
    return LabelConfig(kind="survey", survey=SurveyLabelConfig(path="surveys.csv", **kwargs))


def survey_features() -> pd.DataFrame:
    events = frame(
        [
            ("s1", 0, "page_view", "/"),
            ("s1", 60, "page_view", "/cart"),
            ("s2", 7200, "page_view", "/"),
            ("s3", 0, "page_view", "/"),
        ]
    )
    events.loc[events["session_id"] == "s3", "user_id"] = "u2"
    return Featurizer(FrictionConfig(label=survey_config()))(events).frame


def test_survey_labels_join_by_session_id_and_use_the_threshold() -> None:
    features = survey_features()
    assert not features["label_known"].any()
    surveys = pd.DataFrame({"session_id": ["s1", "s3", "nope"], "csat": [2, 4, 1]})
    out = attach_survey_labels(features, surveys, survey_config())
    assert out["label"].fillna(-1).tolist() == [1.0, -1, 0.0]
    assert out["label_known"].tolist() == [True, False, True]
    assert not features["label_known"].any()  # the input is untouched


def test_survey_labels_join_by_user_to_the_latest_session_ended_before() -> None:
    features = survey_features()
    surveys = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u1"],
            "timestamp": [
                T0 + pd.Timedelta(hours=1),
                T0 + pd.Timedelta(hours=80),
                T0 - pd.Timedelta(hours=1),
            ],
            "nps": [3, 0, 9],
        }
    )
    config = survey_config(score="nps", threshold=6, session_id=None, window_hours=72)
    out = attach_survey_labels(features, surveys, config).set_index("session_id")
    # u1 answered 1 h after s1 ended and before s2; u2 answered outside the window
    assert out.loc["s1", "label"] == 1.0
    assert out["label_known"].tolist() == [True, False, False]


def test_the_lowest_score_of_a_session_counts() -> None:
    surveys = pd.DataFrame({"session_id": ["s1", "s1"], "csat": [5, 1]})
    out = attach_survey_labels(survey_features(), surveys, survey_config())
    assert out.set_index("session_id").loc["s1", "label"] == 1.0


def test_survey_problems_are_named() -> None:
    features = survey_features()
    with pytest.raises(SchemaError, match=r"lack the score column `csat` \(did you mean `CSAT`\?\)"):
        attach_survey_labels(features, pd.DataFrame({"session_id": ["s1"], "CSAT": [1]}), survey_config())
    with pytest.raises(DataQualityError, match="score column `csat` must be numeric; found 'great'"):
        attach_survey_labels(
            features, pd.DataFrame({"session_id": ["s1"], "csat": ["great"]}), survey_config()
        )
    with pytest.raises(ConfigError, match=r"needs \[label.survey\]"):
        attach_survey_labels(features, pd.DataFrame({"session_id": ["s1"], "csat": [1]}), LabelConfig())


ABSENCE = {"label": {"kind": "absence", "reached": "cart", "events": ["purchase"]}}


def test_an_absence_label_marks_sessions_that_reached_a_touchpoint_without_the_event() -> None:
    events = frame(
        [
            ("abandoned", 0, "page_view", "/"),
            ("abandoned", 5, "page_view", "/cart"),
            ("abandoned", 9, "page_view", "/p/1"),
            ("bought", 0, "page_view", "/cart"),
            ("bought", 8, "page_view", "/checkout/payment"),
            ("bought", 12, "purchase", "/checkout/payment"),
            ("bought", 12, "page_view", "/checkout/confirmation"),  # same instant: left out
            ("bought", 20, "page_view", "/checkout/confirmation"),
            ("browsed", 0, "page_view", "/"),
            ("browsed", 4, "page_view", "/p/2"),
        ]
    )
    result = Featurizer(parse_config(ABSENCE))(events)
    table = result.frame.set_index("session_id")
    assert table["label"].to_dict() == {
        "abandoned": 1.0,
        "bought": 0.0,
        "browsed": pytest.approx(np.nan, nan_ok=True),
    }
    assert table["label_known"].to_dict() == {"abandoned": True, "bought": True, "browsed": False}
    # Leakage-safe: the purchase and everything from its instant on are not features.
    assert table.loc["bought", "confirmation__visits"] == 0
    assert table.loc["bought", "session__events"] == 2
    assert result.counts["events_after_cutoff"] == 2


def test_an_absence_label_reached_only_through_events_before_the_cutoff() -> None:
    # The cart seen after the purchase does not put the session in the population.
    events = frame([("s", 0, "page_view", "/"), ("s", 5, "purchase", "/"), ("s", 9, "page_view", "/cart")])
    table = Featurizer(parse_config(ABSENCE))(events).frame
    assert not table["label_known"].iloc[0]


def test_an_absence_label_needs_a_known_touchpoint_and_its_events() -> None:
    with pytest.raises(
        ConfigError, match=r"label\.reached: unknown touchpoint `chart` \(did you mean `cart`\?\)"
    ):
        Featurizer(parse_config({"label": {"kind": "absence", "reached": "chart", "events": ["purchase"]}}))
    with pytest.raises(ConfigError, match=r"kind = 'absence' needs `reached`, a touchpoint"):
        parse_config({"label": {"kind": "absence", "events": ["purchase"]}})
    with pytest.raises(ConfigError, match=r"`reached` is for kind = 'absence', not kind = 'event'"):
        parse_config({"label": {"reached": "cart"}})
