"""Presets: where the canonical columns live in GA4, Snowplow and Segment exports.

A preset lists, for each canonical column, the raw columns to look for: the ones present are
coalesced row by row in order (Snowplow's `derived_tstamp`, else `collector_tstamp`). Nested
fields use the dotted names the reader gives them (`device.category`). What a plain column
cannot express is *derived* into virtual columns first: GA4 keeps the session id inside the
`event_params` key/value list, and it is only unique per user.

`plan_columns` merges a preset with `[events]`: every key the user wrote wins.

A preset also speaks its vendor's vocabulary (`with_preset`): the vendor's event names for
each kind of event the friction signals look for (GA4 searches are `view_search_results`,
Snowplow's errors `application_error` and `trns_error`), set as that kind's `<kind>_events`
list when `[signals]` leaves the kind at its defaults, and its standard events mapped to the
journey's touchpoints (GA4's recommended e-commerce events, Segment's e-commerce spec,
Snowplow's e-commerce actions), tried after every rule of the taxonomy, so a page rule or a
rule the user wrote still wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import CANONICAL_COLUMNS, EventsConfig, FrictionConfig, TimestampUnit
from features.errors import SchemaError
from features.signals import SignalsConfig
from features.taxonomy import TouchpointRule, load_taxonomy

__all__ = [
    "PRESETS",
    "ColumnPlan",
    "Preset",
    "detect_preset",
    "expand_key_values",
    "nested_field",
    "plan_columns",
    "with_preset",
]

Derive = Callable[[pd.DataFrame], dict[str, pd.Series]]


@dataclass(frozen=True)
class Preset:
    name: str
    columns: Mapping[str, tuple[str, ...]]  # canonical -> raw candidates, coalesced in order
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timestamp_unit: TimestampUnit = "auto"
    derive: Derive | None = None  # raw frame -> virtual columns the candidates may name
    # Event kind (signals.EVENT_KINDS) -> the vendor's event names of that kind.
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    vocabulary: Mapping[str, str] = field(default_factory=dict)  # the vendor's event name -> touchpoint
    # Columns no other vendor writes: two of them name the vendor (`detect_preset`).
    marks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ColumnPlan:
    """Where each canonical and context column of one config comes from."""

    columns: Mapping[str, tuple[str, ...]]
    context: Mapping[str, tuple[str, ...]]
    # Named in [events]: missing is an error (a preset's optional columns are used when present).
    explicit: frozenset[str]
    context_explicit: bool
    timestamp_unit: TimestampUnit
    derive: Derive | None


def expand_key_values(values: pd.Series, keys: Sequence[str]) -> dict[str, pd.Series]:
    """One text column per key of a list of `{key, value}` records (GA4 `event_params`).

    `value` is either a scalar or GA4's struct of typed slots; the first filled slot of
    string, int, double, float wins. A key absent from a row gives a missing value; a key
    repeated in a row keeps its first value. Vectorized on the Arrow list layout.
    """
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"`{values.name}` is not a list of {{key, value}} records: {exc}") from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    item_type = (
        array.type.value_type if pa.types.is_list(array.type) or pa.types.is_large_list(array.type) else None
    )
    if item_type is None or not pa.types.is_struct(item_type) or item_type.get_field_index("key") < 0:
        raise SchemaError(
            f"`{values.name}` is not a list of {{key, value}} records (its type is {array.type})"
        )
    items = pc.list_flatten(array)
    parents = pc.list_parent_indices(array)
    item_keys = pc.struct_field(items, "key")
    has_value = item_type.get_field_index("value") >= 0
    texts = _value_text(pc.struct_field(items, "value")) if has_value else pa.nulls(len(items), pa.string())
    out: dict[str, pd.Series] = {}
    for key in keys:
        hit = pc.fill_null(pc.equal(item_keys, key), False)
        found = pd.Series(
            texts.filter(hit).to_numpy(zero_copy_only=False), index=parents.filter(hit).to_numpy()
        )
        first = found[~found.index.duplicated()].astype("str")
        out[key] = first.reindex(range(len(values))).set_axis(values.index).rename(f"{values.name}.{key}")
    return out


def nested_field(columns: Mapping[str, pd.Series] | pd.DataFrame, path: str) -> pd.Series | None:
    """The text at a dotted `path` inside a column, or None when no column starts the path.

    The longest column name that prefixes the path is taken (`unstruct_event` for
    `unstruct_event.data.data.type`); the rest of the path is walked in each value: JSON
    text (Snowplow's enriched TSV keeps `unstruct_event` and `contexts` as JSON), parsed
    records, or a list of `{key, value}` records (GA4's `event_params.search_term`). A list
    is indexed by a number in the path. Missing where the path leads nowhere.
    """
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in columns:
            values, rest = columns[head], parts[cut:]
            if len(rest) == 1 and _is_key_values(values):
                return expand_key_values(values.rename(head), rest)[rest[0]].rename(path)
            return _walk(values, rest).rename(path)
    return None


def _is_key_values(values: pd.Series) -> bool:
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        kind = dtype.pyarrow_dtype
        return bool(
            (pa.types.is_list(kind) or pa.types.is_large_list(kind))
            and pa.types.is_struct(kind.value_type)
            and kind.value_type.get_field_index("key") >= 0
        )
    first = next((v for v in values if isinstance(v, list | np.ndarray) and len(v)), None)
    return first is not None and isinstance(first[0], dict) and "key" in first[0]


def _walk(values: pd.Series, path: list[str]) -> pd.Series:
    """Each value's text at `path`, parsed once per distinct value when the values are text."""
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        try:
            codes, distinct = pd.factorize(values)
        except TypeError:  # unhashable parsed records: walk each row
            return pd.Series([_at(v, path) for v in values], index=values.index, dtype="str")
        found = pd.Series([_at(v, path) for v in distinct] + [None], dtype="str")
        return pd.Series(found.take(np.where(codes < 0, len(distinct), codes)).to_numpy(), index=values.index)
    return pd.Series([_at(v, path) for v in values.to_list()], index=values.index, dtype="str")


def _at(value: Any, path: list[str]) -> str | None:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list | tuple | np.ndarray) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _value_text(value: pa.Array) -> pa.Array:
    if not pa.types.is_struct(value.type):
        return pc.cast(value, pa.string())
    slots = [n for n in _VALUE_SLOTS if value.type.get_field_index(n) >= 0]
    if not slots:
        return pa.nulls(len(value), pa.string())
    return pc.coalesce(*(pc.cast(pc.struct_field(value, n), pa.string()) for n in slots))


_VALUE_SLOTS = ("string_value", "int_value", "double_value", "float_value")
_GA4_PARAMS = ("ga_session_id", "page_location", "link_url")


def _ga4_derive(raw: pd.DataFrame) -> dict[str, pd.Series]:
    """`event_params.<key>` columns, and a session id unique across users."""
    out: dict[str, pd.Series] = {}
    if "event_params" in raw.columns:
        params = expand_key_values(raw["event_params"], _GA4_PARAMS)
        out = {f"event_params.{key}": column for key, column in params.items()}
    session = raw.get(
        "event_params.ga_session_id", out.get("event_params.ga_session_id", raw.get("ga_session_id"))
    )
    if session is not None and "user_pseudo_id" in raw.columns:
        # ga_session_id is the session's start time in seconds: unique per user only.
        out["ga4.session_id"] = _joined(raw["user_pseudo_id"], session)
    return out


def _joined(left: pd.Series, right: pd.Series) -> pd.Series:
    def text(values: pd.Series) -> pd.Series:
        if pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 == 0).all():
            values = values.astype("Int64")  # 1709287200.0 (an int column with gaps) -> "1709287200"
        return values.astype("str")

    return text(left) + "-" + text(right)  # missing on either side stays missing


_SEGMENT_TYPES = {"page": "page_view", "screen": "screen_view"}


def _segment_derive(raw: pd.DataFrame) -> dict[str, pd.Series]:
    """Page and screen calls carry no `event`: name them after their call type."""
    if "type" not in raw.columns:
        return {}
    call = raw["type"].astype("str")
    return {"segment.type_event": call.replace(_SEGMENT_TYPES)}


# Where the e-commerce plugin's action type sits: the warehouse loaders' column (a record in
# JSON and Parquet, JSON text in CSV), or the self-describing JSON of the enriched TSV.
_SNOWPLOW_ACTION_TYPE = (
    "unstruct_event_com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1.type",
    "unstruct_event.data.data.type",
)


_CLIENT_SESSION = "contexts_com_snowplowanalytics_snowplow_client_session_1"


def _snowplow_derive(raw: pd.DataFrame) -> dict[str, pd.Series]:
    """Structured events all have `event = "struct"`: their action says what happened. The
    e-commerce plugin names every action `snowplow_ecommerce_action`: its type says which.
    Mobile trackers keep the session in the `client_session` entity, not `domain_sessionid`."""
    out: dict[str, pd.Series] = {}
    if (session := _client_session(raw)) is not None:
        out["snowplow.client_session"] = session
    if "event" in raw.columns and "se_action" in raw.columns:
        action = raw["se_action"].astype("str")
        out["snowplow.struct_action"] = action.where(raw["event"].astype("str") == "struct")
    if "event_name" in raw.columns:
        is_action = (raw["event_name"].astype("str") == "snowplow_ecommerce_action").fillna(False)
        for path in _SNOWPLOW_ACTION_TYPE:
            kind = raw[path] if path in raw.columns else nested_field(raw, path)
            if kind is not None and is_action.any():
                out["snowplow.ecommerce_action"] = kind.astype("str").where(is_action.to_numpy(dtype=bool))
                break
    return out


def _client_session(raw: pd.DataFrame) -> pd.Series | None:
    """The client_session entity's session id, looked up only on rows without `domain_sessionid`:
    in the loaders' column (a list of records) or in the enriched TSV's `contexts` JSON."""
    column = next((str(c) for c in raw.columns if str(c).startswith(_CLIENT_SESSION)), "contexts")
    if column not in raw.columns:
        return None
    missing = np.ones(len(raw), dtype=bool)
    if "domain_sessionid" in raw.columns:
        given = raw["domain_sessionid"].astype("str").str.strip()
        missing = ~(given.notna() & (given != "")).to_numpy(dtype=bool)
    if not missing.any():
        return None
    found = [_session_in(value) for value in raw[column][missing].tolist()]
    out = pd.Series(None, index=raw.index, dtype="str")
    out[missing] = found
    return out


def _session_in(value: Any) -> str | None:
    """The session id in a contexts envelope (`{schema, data: [entities]}`) or a loader's list."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, dict):  # the envelope: find the client_session entity by its schema
        entities = value.get("data")
        value = [
            e.get("data")
            for e in (entities if isinstance(entities, list) else [])
            if isinstance(e, dict) and "/client_session/" in str(e.get("schema", ""))
        ]
    if isinstance(value, list | tuple | np.ndarray) and len(value) and isinstance(value[0], dict):
        session = value[0].get("sessionId", value[0].get("session_id"))
        return None if session is None else str(session)
    return None


def with_preset(config: FrictionConfig) -> FrictionConfig:
    """The config the featurizer works with: the preset's event names for each kind `[signals]`
    leaves at its defaults, and its vocabulary after every taxonomy rule (the taxonomy inlined,
    as `self_contained` does, so a model built from either config featurizes alike).

    A kind counts as the user's once any of its keys differs from the default, rather than
    once a key is written: a model's carried config holds every key, and must featurize as
    the config it was trained with. The default single name stays matched beside the list."""
    preset = PRESETS[config.events.preset]
    if not preset.signals and not preset.vocabulary:
        return config
    defaults = SignalsConfig()
    left = {
        kind
        for kind in preset.signals
        if all(
            getattr(config.signals, key) == getattr(defaults, key)
            for key in (f"{kind}_event", f"{kind}_events", f"{kind}_event_pattern")
        )
    }
    signals = config.signals.model_copy(
        update={f"{kind}_events": list(names) for kind, names in preset.signals.items() if kind in left}
    )
    merged = config.touchpoints.self_contained()
    known = set(load_taxonomy(merged).touchpoints)
    vocabulary = [
        TouchpointRule(touchpoint=touchpoint, event=event)
        for event, touchpoint in preset.vocabulary.items()
        if touchpoint in known
    ]
    touchpoints = merged.model_copy(update={"rules": [*merged.rules, *vocabulary]})
    return config.model_copy(update={"signals": signals, "touchpoints": touchpoints})


# GA4's recommended events (e-commerce, search, login): support.google.com/analytics/answer/9267735
_GA4_VOCABULARY = {
    "view_promotion": "home",
    "select_promotion": "home",
    "search": "search",
    "view_search_results": "search",
    "view_item_list": "catalog",
    "select_item": "catalog",
    "view_item": "product",
    "add_to_wishlist": "product",
    "add_to_cart": "cart",
    "remove_from_cart": "cart",
    "view_cart": "cart",
    "begin_checkout": "shipping",
    "add_shipping_info": "shipping",
    "add_payment_info": "payment",
    "purchase": "confirmation",
    "refund": "help",
    "login": "account",
    "sign_up": "account",
}
# Segment's E-commerce Spec v2 and the sign-in/sign-up events of its B2B SaaS spec.
_SEGMENT_VOCABULARY = {
    "Promotion Viewed": "home",
    "Promotion Clicked": "home",
    "Products Searched": "search",
    "Product List Viewed": "catalog",
    "Product List Filtered": "catalog",
    "Product Clicked": "catalog",
    "Product Viewed": "product",
    "Product Added to Wishlist": "product",
    "Product Added": "cart",
    "Product Removed": "cart",
    "Cart Viewed": "cart",
    "Checkout Started": "shipping",
    "Checkout Step Viewed": "shipping",
    "Checkout Step Completed": "shipping",
    "Payment Info Entered": "payment",
    "Order Completed": "confirmation",
    "Order Refunded": "help",
    "Order Cancelled": "help",
    "Signed In": "account",
    "Signed Up": "account",
}
# Snowplow's e-commerce plugin action types (events are named by their type), and site search.
_SNOWPLOW_VOCABULARY = {
    "promo_view": "home",
    "promo_click": "home",
    "site_search": "search",
    "list_view": "catalog",
    "list_click": "catalog",
    "product_view": "product",
    "add_to_cart": "cart",
    "remove_from_cart": "cart",
    "checkout_step": "shipping",
    "trns_error": "payment",
    "transaction": "confirmation",
    "refund": "help",
}


PRESETS: Mapping[str, Preset] = {
    "custom": Preset("custom", columns={}),
    "ga4": Preset(
        "ga4",
        columns={
            "session_id": ("ga4.session_id",),
            "user_id": ("user_pseudo_id",),
            "timestamp": ("event_timestamp",),
            "event": ("event_name",),
            "page": ("event_params.page_location", "page_location"),
            "target": ("event_params.link_url",),
            "value": ("event_value_in_usd",),
        },
        context={
            "platform": ("platform",),
            "device_category": ("device.category",),
            "traffic_medium": ("traffic_source.medium",),
        },
        timestamp_unit="us",
        derive=_ga4_derive,
        # Enhanced measurement names site searches `view_search_results` (the recommended
        # `search`, the default name, stays matched) and form submits `form_submit`; apps log
        # crashes as `app_exception` and screens as `screen_view`.
        signals={
            "search": ("view_search_results",),
            "submit": ("form_submit",),
            "error": ("app_exception",),
            "page_view": ("screen_view",),
        },
        vocabulary=_GA4_VOCABULARY,
        marks=frozenset(
            {"event_name", "event_timestamp", "user_pseudo_id", "event_params", "event_bundle_sequence_id"}
        ),
    ),
    "snowplow": Preset(
        "snowplow",
        columns={
            "session_id": ("domain_sessionid", "snowplow.client_session"),
            "user_id": ("domain_userid", "network_userid"),
            "timestamp": ("derived_tstamp", "collector_tstamp"),
            "event": ("snowplow.ecommerce_action", "snowplow.struct_action", "event_name", "event"),
            "page": ("page_urlpath", "page_url"),
            "target": ("se_label",),
            "value": ("se_value",),
        },
        context={
            "platform": ("platform",),
            "marketing_medium": ("mkt_medium",),
            "referrer_medium": ("refr_medium",),
            "country": ("geo_country",),
        },
        derive=_snowplow_derive,
        # The JavaScript tracker's site search, link and button click, form and error tracking
        # plugins, the e-commerce plugin's transaction errors, and the mobile trackers' screens.
        signals={
            "search": ("site_search",),
            "click": ("link_click", "button_click"),
            "submit": ("submit_form",),
            "error": ("application_error", "trns_error"),
            "page_view": ("screen_view",),
        },
        vocabulary=_SNOWPLOW_VOCABULARY,
        marks=frozenset(
            {
                "domain_sessionid",
                "domain_userid",
                "derived_tstamp",
                "collector_tstamp",
                "network_userid",
                "se_action",
            }
        ),
    ),
    "segment": Preset(
        "segment",
        columns={
            # Segment has no session id; sessions are derived unless the app sends one.
            "session_id": ("properties.session_id", "context.sessionId", "properties.sessionId"),
            # anonymousId survives the login that sets userId, so it keeps a visit together.
            # The snake_case names are the warehouse destinations' `tracks` table.
            "user_id": ("anonymousId", "userId", "anonymous_id", "user_id"),
            "timestamp": (
                "timestamp",
                "originalTimestamp",
                "receivedAt",
                "original_timestamp",
                "received_at",
            ),
            "event": ("event", "segment.type_event"),
            "page": ("context.page.path", "properties.path", "context.page.url", "context_page_path"),
            "target": ("properties.target", "properties.element"),
            "value": ("properties.revenue", "properties.value", "revenue"),
        },
        context={
            "device_type": ("context.device.type", "context_device_type"),
            "campaign_medium": ("context.campaign.medium", "context_campaign_medium"),
            "library": ("context.library.name", "context_library_name"),
        },
        derive=_segment_derive,
        # The e-commerce spec's searches, the native mobile spec's crashes, and screen calls
        # (named `screen_view` by `_segment_derive`).
        signals={
            "search": ("Products Searched",),
            "error": ("Application Crashed",),
            "page_view": ("screen_view",),
        },
        vocabulary=_SEGMENT_VOCABULARY,
        # The calls as the libraries send them, and the warehouse destinations' snake_case tables.
        marks=frozenset(
            {
                "anonymousId",
                "messageId",
                "originalTimestamp",
                "receivedAt",
                "sentAt",
                "anonymous_id",
                "original_timestamp",
                "context_library_name",
                "uuid_ts",
            }
        ),
    ),
}


# An export is a vendor's when it has at least this many of the vendor's marks.
_ENOUGH_MARKS = 2


def detect_preset(columns: Iterable[str]) -> tuple[str, str]:
    """The preset whose vendor wrote an export with these raw columns (the reader's names),
    and the evidence (the marks found); `custom` when no vendor is clear. A nested field read
    as `event_params.key` still marks its top-level name."""
    names = [str(c) for c in columns]
    present = set(names) | {name.split(".", 1)[0] for name in names}
    found = {name: sorted(present & preset.marks) for name, preset in PRESETS.items() if preset.marks}
    best = max(found, key=lambda name: len(found[name]))
    if len(found[best]) < _ENOUGH_MARKS:
        return "custom", "no vendor's columns (GA4, Snowplow, Segment) found"
    return best, f"columns {', '.join(f'`{c}`' for c in found[best])}"


def plan_columns(config: EventsConfig) -> ColumnPlan:
    """The preset's candidates, overridden by every key written in `[events]`."""
    preset = PRESETS[config.preset]
    explicit = config.explicit_columns()
    columns = {
        name: (explicit[name],) if name in explicit else preset.columns.get(name, (name,))
        for name in CANONICAL_COLUMNS
    }
    context_explicit = "context" in config.model_fields_set
    context = (
        {name: (raw,) for name, raw in config.context_columns().items()}
        if context_explicit
        else preset.context
    )
    unit = config.timestamp_unit if "timestamp_unit" in config.model_fields_set else preset.timestamp_unit
    return ColumnPlan(
        columns=columns,
        context=dict(context),
        explicit=frozenset(explicit),
        context_explicit=context_explicit,
        timestamp_unit=unit,
        derive=preset.derive,
    )
