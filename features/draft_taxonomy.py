"""A first taxonomy drafted from the data's own vocabulary, for `friction init`.

From a sample of canonical events (features/events.py), `draft_taxonomy`:
- groups pages into URL templates (`/p/123` -> `/p/{id}`) and places each template, then
  each event name, at the touchpoint its words name (features/vocabulary.py);
- gives a frequent template or event name that no synonym places a touchpoint of its own,
  unless its rows are placed by their page already or its words only say what happened;
- proposes error events (error words, or an HTTP status >= 400 on most of their rows), label
  candidates (support, complaint, refund...) with the share of sessions that hold them, and
  the click, search, submit and page-view events of [signals].
A name is one thing only: a label candidate is neither an error nor a signal event nor placed
at a touchpoint (label events never become features), and an error is no signal event.
Everything carries its evidence (count, share) for the drafted file's comments. Work is
per distinct name and template, never per event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from features.tokens import joined_pairs, tokens, url_template
from features.vocabulary import (
    ERROR_WORDS,
    GENERIC_WORDS,
    LABEL_WORDS,
    SIGNAL_WORDS,
    touchpoint_of,
)

__all__ = ["Finding", "TaxonomyDraft", "draft_taxonomy", "status_error_names", "template_pattern"]

# A name or template this frequent (share of events) that nothing places gets its own touchpoint.
OWN_TOUCHPOINT_SHARE = 0.01
# An event name whose rows mostly have a placed page needs no rule of its own.
PLACED_BY_PAGE_SHARE = 0.5
# An event name is an error when this share of its rows has an HTTP status >= 400.
STATUS_ERROR_SHARE = 0.5
_MAX_URL_RULES = 300
_NAME = re.compile(r"^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$")
_RESERVED = frozenset({"session", "funnel", "context", "other"})


@dataclass(frozen=True)
class Finding:
    """One inference about an event name or URL template, with its evidence."""

    name: str
    count: int  # events
    share: float  # of the sample's events
    why: str
    touchpoint: str | None = None
    pattern: str | None = None  # URL rules: the regular expression written to the rule
    rate: float | None = None  # label candidates: share of sessions holding the event


@dataclass(frozen=True)
class TaxonomyDraft:
    funnel: tuple[str, ...]
    touchpoints: tuple[str, ...]  # every touchpoint, funnel first, own touchpoints last
    own_touchpoints: tuple[str, ...]
    url_rules: list[Finding]
    event_rules: list[Finding]
    errors: list[Finding]
    labels: list[Finding]
    signals: dict[str, list[Finding]]
    unplaced: list[Finding] = field(default_factory=list)  # names and templates left to `other`
    n_events: int = 0
    n_sessions: int = 0


def _words(text: str) -> tuple[str, ...]:
    return joined_pairs(tokens(text))


def _template_words(template: str) -> tuple[str, ...]:
    static = [s for s in template.split("/") if s and s != "{id}"]
    return _words(" ".join(static))


def template_pattern(template: str) -> str:
    """The taxonomy rule (RE2) matching the pages of a template: `{id}` is any one segment."""
    if template == "/":
        return "^/$"
    parts = ("[^/]+" if s == "{id}" else re.escape(s) for s in template.split("/"))
    return "^" + "/".join(parts) + "/?$"


def _prefix_pattern(segment: str) -> str:
    return f"^/{re.escape(segment)}(/.*)?$"


def status_error_names(names: pd.Series, status: pd.Series) -> dict[str, float]:
    """Event names with an HTTP status >= 400 on most of their rows -> that share."""
    codes = pd.to_numeric(status.astype("str"), errors="coerce")
    frame = pd.DataFrame({"name": names.astype("str").to_numpy(), "bad": (codes >= 400).to_numpy()})
    share = frame.dropna(subset=["name"]).groupby("name")["bad"].mean()
    return {str(n): float(s) for n, s in share.items() if s >= STATUS_ERROR_SHARE}


def _own_name(words: Sequence[str], taken: set[str]) -> str | None:
    """A touchpoint name from the words that say where, or None when all only say what happened."""
    kept = [w for w in words if w not in GENERIC_WORDS and w.isalnum()][:3]
    if not kept:
        return None
    name = "_".join(kept)
    if not _NAME.match(name):
        return None
    if name in _RESERVED:
        name += "_page"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _session_keys(events: pd.DataFrame) -> pd.Series | None:
    for column in ("session_id", "user_id"):
        if column in events.columns:
            return events[column]
    return None


def draft_taxonomy(
    events: pd.DataFrame,
    funnel: Sequence[str],
    touchpoints: Sequence[str],
    status_errors: Mapping[str, float] | None = None,
) -> TaxonomyDraft:
    """Draft rules, errors, labels and signal events from canonical events (a sample).

    `funnel` and `touchpoints` are the journey's (the default taxonomy's): rules name them.
    `status_errors` are event names an HTTP status column marks as errors (`status_error_names`).
    """
    status_errors = dict(status_errors or {})
    n_events = len(events)
    names = events["event"].astype("str").value_counts(dropna=True)
    keys = _session_keys(events)
    n_sessions = int(keys.nunique()) if keys is not None else 0
    sessions_with = (
        pd.DataFrame({"k": keys.to_numpy(), "e": events["event"].astype("str").to_numpy()})
        .drop_duplicates()
        .groupby("e")["k"]
        .size()
        if keys is not None
        else pd.Series(dtype="int64")
    )

    def share(count: int) -> float:
        return count / n_events if n_events else 0.0

    errors: list[Finding] = []
    labels: list[Finding] = []
    kind_of: dict[str, str] = {}
    for name, count in names.items():
        name, count = str(name), int(count)
        words = set(_words(name))
        if hit := sorted(words & ERROR_WORDS):
            errors.append(Finding(name, count, share(count), f"word `{hit[0]}`"))
            kind_of[name] = "error"
        elif name in status_errors:
            why = f"HTTP status >= 400 on {status_errors[name]:.0%} of its rows"
            errors.append(Finding(name, count, share(count), why))
            kind_of[name] = "error"
        elif hit := sorted(words & LABEL_WORDS):
            rate = int(sessions_with.get(name, 0)) / n_sessions if n_sessions else 0.0
            labels.append(Finding(name, count, share(count), f"word `{hit[0]}`", rate=rate))
            kind_of[name] = "label"

    taken = set(touchpoints) | _RESERVED
    own: list[str] = []
    url_rules, unplaced, placed_pages = _draft_urls(events, share, taken, own)

    event_rules: list[Finding] = []
    placed_by_page = _placed_by_page(events, placed_pages)
    for name, count in names.items():
        name, count = str(name), int(count)
        if kind_of.get(name) == "label":
            continue
        name_words = _words(name)
        found = touchpoint_of(name_words)
        if found is not None:
            touchpoint, word = found
            event_rules.append(Finding(name, count, share(count), f"word `{word}`", touchpoint=touchpoint))
            continue
        if placed_by_page.get(name, 0.0) >= PLACED_BY_PAGE_SHARE:
            continue
        own_name = None
        if kind_of.get(name) is None and share(count) >= OWN_TOUCHPOINT_SHARE:
            own_name = _own_name(name_words, taken)
        if own_name is not None:
            taken.add(own_name)
            own.append(own_name)
            why = f"frequent ({share(count):.1%} of events), no synonym: a touchpoint of its own"
            event_rules.append(Finding(name, count, share(count), why, touchpoint=own_name))
        else:
            unplaced.append(Finding(name, count, share(count), "no synonym"))

    signals: dict[str, list[Finding]] = {kind: [] for kind in SIGNAL_WORDS}
    for name, count in names.items():
        name, count = str(name), int(count)
        if name in kind_of:  # labels and errors are no signal events
            continue
        words = set(_words(name))
        for kind, synonyms in SIGNAL_WORDS.items():
            if hit := sorted(words & synonyms):
                signals[kind].append(Finding(name, count, share(count), f"word `{hit[0]}`"))
                break
    return TaxonomyDraft(
        funnel=tuple(funnel),
        touchpoints=(*touchpoints, *own),
        own_touchpoints=tuple(own),
        url_rules=url_rules,
        event_rules=event_rules,
        errors=errors,
        labels=labels,
        signals=signals,
        unplaced=sorted(unplaced, key=lambda f: -f.count),
        n_events=n_events,
        n_sessions=n_sessions,
    )


def _draft_urls(
    events: pd.DataFrame, share: Callable[[int], float], taken: set[str], own: list[str]
) -> tuple[list[Finding], list[Finding], set[str]]:
    """URL rules (one per first path segment when all its templates agree, else per template),
    templates left unplaced, and the distinct pages the rules place."""
    if "page" not in events.columns or events["page"].isna().all():
        return [], [], set()
    pages = events["page"].dropna().astype("str").value_counts()
    templates = pd.Series([url_template(p) for p in pages.index], index=pages.index)
    counts = pages.groupby(templates.to_numpy()).sum().sort_values(ascending=False)
    placed: dict[str, tuple[str, str]] = {}  # template -> (touchpoint, why)
    unplaced: list[Finding] = []
    for template, count in counts.items():
        template, count = str(template), int(count)
        found = touchpoint_of(_template_words(template)) if template != "/" else ("home", "/")
        if found is not None:
            placed[template] = (found[0], f"word `{found[1]}`" if template != "/" else "the site's root")
            continue
        own_name = (
            _own_name(_template_words(template), taken) if share(count) >= OWN_TOUCHPOINT_SHARE else None
        )
        if own_name is not None:
            taken.add(own_name)
            own.append(own_name)
            why = f"frequent ({share(count):.1%} of events), no synonym: a touchpoint of its own"
            placed[template] = (own_name, why)
        else:
            unplaced.append(Finding(template, count, share(count), "no synonym"))

    rules: list[Finding] = []
    first = pd.Series(
        [t.split("/")[1] if t.count("/") >= 1 else "" for t in counts.index], index=counts.index
    )
    for key, group in counts.groupby(first.to_numpy(), sort=False):
        segment = str(key)
        in_group = [str(t) for t in group.index]
        choices = {placed[t][0] for t in in_group if t in placed}
        whole = segment not in ("", "{id}") and len(in_group) > 1 and len(choices) == 1
        if whole and all(t in placed for t in in_group):
            touchpoint = choices.pop()
            total = int(group.sum())
            why = f"{len(in_group)} templates, e.g. {in_group[0]}; {placed[in_group[0]][1]}"
            rules.append(
                Finding(f"/{segment}/...", total, share(total), why, touchpoint, _prefix_pattern(segment))
            )
            continue
        for template in in_group:
            if template in placed:
                count = int(group[template])
                touchpoint, why = placed[template]
                rules.append(
                    Finding(template, count, share(count), why, touchpoint, template_pattern(template))
                )
    rules.sort(key=lambda f: -f.count)
    kept = rules[:_MAX_URL_RULES]
    for dropped in rules[_MAX_URL_RULES:]:
        unplaced.append(Finding(dropped.name, dropped.count, dropped.share, "beyond the rule limit"))
    kept_templates = {t for t in placed if any(_covers(rule, t) for rule in kept)}
    placed_pages = {str(p) for p, t in templates.items() if t in kept_templates}
    return kept, unplaced, placed_pages


def _covers(rule: Finding, template: str) -> bool:
    if rule.name.endswith("/..."):
        return template.split("/")[1] == rule.name[1:-4] if template.count("/") >= 1 else False
    return rule.name == template


def _placed_by_page(events: pd.DataFrame, placed_pages: set[str]) -> dict[str, float]:
    """Share of each event name's rows whose page a URL rule places."""
    if "page" not in events.columns or not placed_pages:
        return {}
    placed = events["page"].astype("str").isin(placed_pages).to_numpy()
    frame = pd.DataFrame({"e": events["event"].astype("str").to_numpy(), "placed": placed})
    return {str(k): float(v) for k, v in frame.groupby("e")["placed"].mean().items()}
