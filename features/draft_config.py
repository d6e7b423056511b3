"""The `friction.toml` that `friction init` writes: the drafted columns, label, signals and
taxonomy as TOML, each inference with its evidence in a comment.

The text is built here and only here; `render_config` output parses back with
`features.config.parse_config` (the init job checks it before writing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from features.column_roles import ColumnRoles
from features.config import CANONICAL_COLUMNS, EventsConfig
from features.draft_taxonomy import Finding, TaxonomyDraft
from features.errors import SchemaError

__all__ = ["draft_events_config", "render_config"]

_SHOWN = 12  # findings listed per comment block before "... and N more"


def draft_events_config(preset: str, roles: ColumnRoles, columns: Iterable[str]) -> EventsConfig:
    """`[events]` for this export: the preset's mapping, or every inferred role for `custom`."""
    if preset != "custom":
        return EventsConfig(preset=preset)
    found = roles.columns
    missing = [name for name in ("timestamp", "event") if name not in found]
    if not ({"session_id", "user_id"} & found.keys()):
        missing.append("session_id or user_id")
    if missing:
        raise SchemaError(
            f"cannot tell which column holds the {' and the '.join(missing)}; columns: "
            f"{', '.join(map(str, columns))}. Write [events] by hand (see the README's `friction.toml`)"
        )
    mapping = {name: found[name].raw for name in CANONICAL_COLUMNS if name in found}
    return EventsConfig(
        timestamp_unit=roles.timestamp_unit,
        context=[guess.raw for guess in roles.context],
        **mapping,
    )


def _str(value: str) -> str:
    """A TOML string: literal ('...') when it can be, so regular expressions keep their backslashes."""
    if "'" not in value and value.isprintable():
        return f"'{value}'" if "\\" in value else json.dumps(value)
    return json.dumps(value)


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_str(v) for v in values) + "]"


def _evidence(finding: Finding) -> str:
    rate = f", in {finding.rate:.1%} of sessions" if finding.rate is not None else ""
    return f"{finding.name}: {finding.count:,} events ({finding.share:.1%}){rate}; {finding.why}"


def _listed(findings: list[Finding], indent: str = "#   ") -> list[str]:
    lines = [indent + _evidence(f) for f in findings[:_SHOWN]]
    if len(findings) > _SHOWN:
        lines.append(f"{indent}... and {len(findings) - _SHOWN} more")
    return lines


def _events_section(preset: tuple[str, str], roles: ColumnRoles, events: EventsConfig) -> list[str]:
    name, why = preset
    lines = ["[events]", f"# preset: {why}", f"preset = {_str(name)}"]
    if name != "custom":
        lines.append("# The preset says where each column lives; a key written here overrides it.")
        return lines
    for column in CANONICAL_COLUMNS:
        guess = roles.columns.get(column)
        if guess is not None:
            lines.append(f"{column} = {_str(guess.raw)}  # {guess.evidence}")
    if events.timestamp_unit != "auto":
        lines.append(f"timestamp_unit = {_str(events.timestamp_unit)}")
    absent = [c for c in CANONICAL_COLUMNS if c not in roles.columns and c != "touchpoint"]
    if absent:
        lines.append(f"# Not found (signals that need them are off): {', '.join(absent)}")
    if roles.context:
        lines.append("# Context: low-cardinality columns constant within a session")
        lines += [f"#   {guess.evidence}" for guess in roles.context]
    lines.append(f"context = {_list(guess.raw for guess in roles.context)}")
    return lines


def _label_section(draft: TaxonomyDraft, roles: ColumnRoles) -> list[str]:
    lines = ["[label]"]
    if roles.scores:
        lines.append("# Survey-like score columns (a survey label reads a separate responses file):")
        lines += [f"#   {guess.evidence}" for guess in roles.scores]
    if not draft.labels:
        lines += [
            "# No label candidate (support, chat, complaint, refund, cancel, unsubscribe,",
            "# thumbs_down...) among the event names: name the events that mean 'dissatisfied'.",
            'kind = "event"',
            'events = ["support_chat", "complaint"]',
        ]
        return lines
    lines.append("# Label candidates: a session holding one of these events is 'dissatisfied'.")
    lines += _listed(draft.labels)
    lines += ['kind = "event"', f"events = {_list(f.name for f in draft.labels)}"]
    return lines


def _signals_section(draft: TaxonomyDraft) -> list[str]:
    lines = ["[signals]"]
    if draft.errors:
        lines.append("# Error events:")
        lines += _listed(draft.errors)
        lines.append(f"error_events = {_list(f.name for f in draft.errors)}")
    else:
        lines.append("# No error event found (error, fail, exception, bug, decline, timeout, 404/500...).")
    for kind, findings in draft.signals.items():
        if findings:
            lines.append(f"# {kind.replace('_', ' ').capitalize()} events:")
            lines += _listed(findings)
            lines.append(f"{kind}_events = {_list(f.name for f in findings)}")
    return lines


def _touchpoints_section(draft: TaxonomyDraft) -> list[str]:
    lines = [
        "[touchpoints]",
        "# The whole taxonomy is below (inline): URL rules first (a page says where the customer",
        "# is, whatever they did there), then event names. The first matching rule wins.",
        "inline = true",
        f"funnel = {_list(draft.funnel)}",
        f"touchpoints = {_list(draft.touchpoints)}",
    ]
    if draft.own_touchpoints:
        lines.append(f"# Touchpoints of their own (frequent, no synonym): {', '.join(draft.own_touchpoints)}")
    for rule in draft.url_rules:
        lines += [
            "",
            f"[[touchpoints.rules]]  # {_evidence(rule)}",
            f"touchpoint = {_str(rule.touchpoint or '')}",
            f"url = {_str(rule.pattern or '')}",
        ]
    for rule in draft.event_rules:
        lines += [
            "",
            f"[[touchpoints.rules]]  # {_evidence(rule)}",
            f"touchpoint = {_str(rule.touchpoint or '')}",
            f"event = {_str(rule.name)}",
        ]
    if draft.unplaced:
        lines += ["", "# Left to `other` (no synonym, not frequent enough for a touchpoint of its own):"]
        lines += _listed(draft.unplaced)
    return lines


def render_config(
    source: str,
    preset: tuple[str, str],
    roles: ColumnRoles,
    events: EventsConfig,
    draft: TaxonomyDraft,
) -> str:
    """The drafted `friction.toml`, commented."""
    header = [
        f"# Drafted by `friction init` from {source}: a sample of {draft.n_events:,} events,",
        f"# {draft.n_sessions:,} sessions (or users when the data has no session id).",
        "# Each inference says why in a comment (events, share of events). Check them, then:",
        "#   friction validate --config friction.toml --events EVENTS",
        "#   friction features --config friction.toml --events EVENTS --out features.parquet",
    ]
    blocks = [
        header,
        _events_section(preset, roles, events),
        _label_section(draft, roles),
        _signals_section(draft),
        _touchpoints_section(draft),
    ]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"
