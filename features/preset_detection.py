"""Which vendor wrote an export, from its column names (`friction init --preset auto`).

Each vendor has columns no one else uses (GA4's `user_pseudo_id`, Snowplow's
`domain_sessionid`, Segment's `anonymousId`). An export is the vendor's when it has at least
two of that vendor's marks; otherwise it is `custom` and its columns are inferred one by one
(features/column_roles.py). The preset itself (features/presets.py) says where each
canonical column lives; this module only recognises the export.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MARKS", "detect_preset"]

MARKS: dict[str, frozenset[str]] = {
    "ga4": frozenset(
        {"event_name", "event_timestamp", "user_pseudo_id", "event_params", "event_bundle_sequence_id"}
    ),
    "snowplow": frozenset(
        {
            "domain_sessionid",
            "domain_userid",
            "derived_tstamp",
            "collector_tstamp",
            "network_userid",
            "se_action",
        }
    ),
    "segment": frozenset({"anonymousId", "messageId", "originalTimestamp", "receivedAt", "sentAt"}),
}
_ENOUGH = 2


def detect_preset(columns: Iterable[str]) -> tuple[str, str]:
    """The preset name and the evidence (the marks found), `custom` when no vendor is clear."""
    # A nested field read as `event_params.key` still marks its top-level name.
    present = {str(c) for c in columns} | {str(c).split(".", 1)[0] for c in columns}
    found = {name: sorted(present & marks) for name, marks in MARKS.items()}
    best = max(found, key=lambda name: len(found[name]))
    if len(found[best]) < _ENOUGH:
        return "custom", "no vendor's columns (GA4, Snowplow, Segment) found"
    return best, f"columns {', '.join(f'`{c}`' for c in found[best])}"
