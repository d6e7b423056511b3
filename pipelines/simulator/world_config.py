"""The `friction.toml` written next to a simulated world, so that `friction features` and
`friction train` process the folder as it is.

A world at pages needs only its columns and label; a world whose names carry the touchpoint
(small-shop) also gets a rule per name, every error event name and its submit event; an alt
world gets its columns and label only, the rest being what `friction init` must draft.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.simulator.naming import Naming
from pipelines.simulator.vocabulary import TOUCHPOINTS

__all__ = ["config_text"]

_FUNNEL = TOUCHPOINTS[: TOUCHPOINTS.index("confirmation") + 1]
_OFF_FUNNEL = TOUCHPOINTS[len(_FUNNEL) : -1]


def _strings(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def config_text(
    columns: Sequence[str],
    context: Sequence[str],
    label_events: Sequence[str],
    naming: Naming | None = None,
    clicks: bool = True,
    map_names: bool = True,
) -> str:
    """The config for events with these canonical and context columns, named by `naming`
    (None: the generator's names at pages), with a rule per name if `map_names`."""
    mapping = "".join(f'{column} = "{column}"\n' for column in columns)
    text = f"""# Written by `friction simulate`: processes events.parquet in this folder as it is.
[events]
{mapping}context = [{_strings(context)}]

# Dissatisfied = the session ended in a support chat or a complaint. To learn from the
# survey answers instead: kind = "survey" and a [label.survey] table with path = "surveys.parquet".
[label]
kind = "event"
events = [{_strings(label_events)}]
"""
    if naming is None:
        return text
    if not map_names:
        return text + _UNMAPPED
    return text + _taxonomy_text(naming, clicks)


_UNMAPPED = """
# No [touchpoints] rules and no [signals] names: these event names are unfamiliar on purpose,
# and every event is `other` until `friction init` drafts them. world.json has the truth.
"""


def _taxonomy_text(naming: Naming, clicks: bool) -> str:
    names = naming.truth(clicks)
    errors = list(names.loc[names["is_error"], "event"])
    rules = "".join(
        f'\n[[touchpoints.rules]]\ntouchpoint = "{row.touchpoint}"\nevent = "{row.event}"\n'
        for row in names.itertuples()
    )
    return f"""
# Every error event counts in the errors signal, at the touchpoint where it happens.
# Resubmitting the payment form soon after is a repeated submit.
[signals]
error_events = [{_strings(errors)}]
submit_event = "{naming.submit["payment"]}"

# The events carry no page: each name says where the customer is. A generic error page
# does not, so it maps to `other`.
[touchpoints]
inline = true
funnel = [{_strings(_FUNNEL)}]
touchpoints = [{_strings(_OFF_FUNNEL)}]
{rules}"""
