"""One self-contained `report.html`: no script, no external URL, images as data URIs.

Safe by construction: every value that comes from data goes through `_e` (HTML-escaped,
quotes included) before it touches the page, and the page carries a Content-Security-Policy
that allows nothing but data: images and the one inline style block (by its sha256), so even
a string that escaped escaping could neither run nor fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pandas as pd

from models.report.build import Report
from models.report.incidents import MAD_TO_SD

__all__ = ["CSS", "content_security_policy", "render_html"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 24px}
header{padding-top:24px}
h1{font-size:1.7em;margin:0 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:40px}
nav a{margin-right:14px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.4em}
table{border-collapse:collapse;margin:10px 0;background:#fff;font-size:.92em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#b03a2e}.neg{color:#2e6da4}
.note{color:#555;font-size:.92em}
img{max-width:100%;height:auto;background:#fff;border:1px solid #eee}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid img{max-width:48%}
.session{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 16px;margin:18px 0}
.flag{font-weight:bold;color:#b03a2e}
footer{padding:30px 24px;color:#666;font-size:.85em}
"""


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(css: str = CSS) -> str:
    """Nothing by default; data: images; the one style block by hash; no base, no forms."""
    style = _sha256_source(css)
    return f"default-src 'none'; img-src data:; style-src {style}; base-uri 'none'; form-action 'none'"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _missing(value: Any) -> bool:
    return (
        value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT
    )


def _num(value: Any, digits: int = 3) -> str:
    if _missing(value):
        return ""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{float(value):.{digits}g}"


def _signed(value: Any) -> str:
    if _missing(value):
        return ""
    kind = "pos" if value > 0 else "neg" if value < 0 else "zero"
    return f'<span class="{kind}">{float(value):+.3f}</span>'


def _pct(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.1%}"


def _day(value: Any) -> str:
    return "" if _missing(value) else _e(pd.Timestamp(value).strftime("%Y-%m-%d"))


def _when(value: Any) -> str:
    return "" if _missing(value) else _e(pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _markup(value: Any) -> str:
    """Already-escaped HTML built by this module (left-aligned like text)."""
    return str(value)


Cell = Callable[[Any], str]


def _table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, Cell | None]]) -> str:
    """An HTML table; each column is (source column, header, formatter returning safe HTML).
    Without a formatter the value is escaped text; numeric formatters right-align."""
    head = "".join(f"<th>{_e(title)}</th>" for _, title, _ in columns)
    body = []
    for record in frame.to_dict("records"):
        cells = []
        for name, _, fmt in columns:
            value = record.get(name)
            if fmt is None:
                cells.append(f"<td>{'' if _missing(value) else _e(value)}</td>")
            elif fmt is _markup:
                cells.append(f"<td>{_markup(value)}</td>")
            else:
                cells.append(f'<td class="n">{fmt(value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(uri: str, alt: str) -> str:
    if not uri.startswith("data:image/png;base64,"):
        raise ValueError("report images must be PNG data URIs")
    return f'<img src="{_e(uri)}" alt="{_e(alt)}">'


def _headline(report: Report) -> str:
    values = dict(zip(report.tables["headline"]["measure"], report.tables["headline"]["value"], strict=True))
    cards = [
        ("sessions", _num(values["sessions"])),
        ("period", f"{_day(values['period_start'])} to {_day(values['period_end'])}"),
        ("predicted dissatisfaction", _pct(values["predicted_dissatisfaction_rate"])),
        ("high-risk sessions", _pct(values["high_risk_share"])),
        (
            "observed (labelled)",
            f"{_pct(values['observed_dissatisfaction_rate'])} of {_num(values['labelled_sessions'])}",
        ),
    ]
    html_cards = "".join(f'<div class="card">{_e(k)}<b>{v}</b></div>' for k, v in cards)
    quality = report.tables["quality"]
    table = (
        _table(
            _with_spread(quality),
            [
                ("scorer", "scorer", None),
                *((f"{metric}_shown", title, None) for metric, title in _UNCERTAIN),
                ("sessions", "holdout sessions", _num),
            ],
        )
        if not quality.empty
        else '<p class="note">The model artifact carries no holdout metrics.</p>'
    )
    notes = "".join(
        f'<p class="{kind}">{_e(text)}</p>'
        for kind, text in (
            ("flag", report.notes.get("drift_warning")),
            ("note", report.notes.get("uncertainty_note")),
        )
        if text
    )
    return (
        '<section id="headline"><h2>Headline</h2>'
        f'<div class="cards">{html_cards}</div>'
        "<h3>Model quality on its holdout, next to its baselines</h3>"
        '<p class="note">Each figure: the holdout value [bootstrap 95 % interval] / the mean '
        "&plusmn; sd over the rolling-origin backtests (each fold learnt from the past only).</p>"
        f"{table}{notes}{_drift(report)}</section>"
    )


_UNCERTAIN = (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("brier", "Brier"), ("ece", "ECE"))


def _with_spread(quality: pd.DataFrame) -> pd.DataFrame:
    """Each metric as text: value [low, high], then the backtests' mean +- sd when known."""
    shown = quality.copy()
    for metric, _ in _UNCERTAIN:
        texts = []
        for row in quality.to_dict("records"):
            text = _num(row.get(metric))
            low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
            if text and not _missing(low) and not _missing(high):
                text += f" [{_num(low)}, {_num(high)}]"
            mean, sd = row.get(f"{metric}_backtest_mean"), row.get(f"{metric}_backtest_sd")
            if not _missing(mean):
                text += f" / backtests {_num(mean)}" + ("" if _missing(sd) else f" \u00b1 {_num(sd)}")
            texts.append(text)
        shown[f"{metric}_shown"] = texts
    return shown


def _drift(report: Report) -> str:
    weekly = report.tables["drift"]
    if weekly.empty:
        return ""
    return (
        "<h3>Drift: label rate and risk per week</h3>"
        '<p class="note">Training range and holdout, by calendar week (Monday). Risk on the training '
        "range is out of fold (cross-fitted), as on the holdout.</p>"
        + _table(
            weekly,
            [
                ("week", "week", None),
                ("part", "part", None),
                ("sessions", "sessions", _num),
                ("positive_rate", "dissatisfied (observed)", _pct),
                ("mean_risk", "mean risk", _pct),
                ("risk_p50", "median risk", _pct),
                ("risk_p90", "90th pct risk", _pct),
            ],
        )
    )


def _interval(value: Any, low: Any, high: Any, fmt: Cell) -> str:
    text = fmt(value)
    if text and not _missing(low) and not _missing(high):
        text += f" [{fmt(low)}, {fmt(high)}]"
    return text


def _sessions(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):,.1f}"


def _with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """`avoided_shown` and `share_shown`: each figure with its bootstrap interval, as text."""
    shown = frame.copy()
    records = frame.to_dict("records")
    shown["avoided_shown"] = [
        _interval(r["avoided"], r["avoided_low"], r["avoided_high"], _sessions) for r in records
    ]
    shown["share_shown"] = [_interval(r["share"], r["share_low"], r["share_high"], _pct) for r in records]
    return shown


_FIX_COLUMNS: tuple[tuple[str, str, Cell | None], ...] = (
    ("sessions_with_friction", "sessions with friction", _num),
    ("avoided_shown", "dissatisfied sessions avoided [95 % interval]", None),
    ("share_shown", "share of predicted dissatisfaction", None),
)


def _moments(report: Report) -> str:
    signals = report.tables["moment_signals"]
    top = report.config.families_per_touchpoint
    behind = {
        str(t): ", ".join(
            f"{_e(r['family'])} {float(r['mean_contribution']):+.3f}"
            for r in rows.head(top).to_dict("records")
        )
        for t, rows in signals.groupby("touchpoint", sort=False)
    }
    frame = _with_intervals(report.tables["moments"])
    frame["signals"] = [behind.get(str(t), "") for t in frame["touchpoint"]]
    fixes = _table(
        frame,
        [
            ("rank", "#", _num),
            ("touchpoint", "touchpoint", None),
            ("top_signal", "top friction signal there", None),
            *_FIX_COLUMNS,
        ],
    )
    why = _table(
        frame,
        [
            ("touchpoint", "touchpoint", None),
            ("sessions_affected", "sessions that visited it", _num),
            ("mean_contribution", "mean contribution", _signed),
            ("shap_total", "summed over them", _signed),
            ("signals", "signals behind it (mean per visit)", _markup),
        ],
    )
    return (
        '<section id="moments"><h2>Moments of truth: the fix list</h2>'
        '<p class="note">Each touchpoint\'s friction (errors, rage clicks, slow loads, loops...; the '
        "feature catalog marks which features are friction) removed from every session that met it, "
        "its visits and the rest of the journey kept: the calibrated risk drops, and the drop summed "
        "over sessions is the expected number of dissatisfied sessions avoided; its share of all "
        "predicted dissatisfaction beside it. Intervals: bootstrap over sessions. The top signal is "
        "the friction whose removal alone spares the most there.</p>"
        f"{fixes}{_img(report.figures['impact'], 'dissatisfied sessions avoided per touchpoint')}"
        "<h3>Why: the SHAP view</h3>"
        '<p class="note">Contribution of each touchpoint\'s features (friction and exposure) to the '
        "dissatisfaction log-odds (TreeSHAP), over the sessions that visited it. Positive raises "
        "risk; negative lowers it.</p>"
        f"{why}</section>"
    )


def _journey(report: Report) -> str:
    source = (
        "From the events: consecutive touchpoint visits of each session (label events left out)."
        if report.journey_from_events
        else "From the feature table alone (no --events given): it holds no event order, so arrows "
        "follow the funnel and count the sessions that visited both steps."
    )
    edges = report.tables["journey_edges"].head(report.config.journey_edges)
    table = _table(
        edges,
        [
            ("source", "from", None),
            ("target", "to", None),
            ("transitions", "transitions", _num),
            ("sessions", "sessions", _num),
        ],
    )
    return (
        '<section id="journey"><h2>Journey map</h2>'
        f'<p class="note">{_e(source)} Each touchpoint is coloured by the mean contribution of a visit '
        "(red raises risk, blue lowers it); arrows are as wide as their sessions.</p>"
        f"{_img(report.figures['journey'], 'touchpoint transition graph')}"
        f"<h3>Busiest transitions</h3>{table}</section>"
    )


def _shap(report: Report) -> str:
    plots = "".join(_img(uri, f"dependence of {name}") for name, uri in report.dependence.items())
    return (
        '<section id="shap"><h2>SHAP summary and dependence</h2>'
        f'<p class="note">Plotted on a seeded sample of {report.plot_sessions:,} sessions (the same '
        "TreeSHAP values as every table, which use all sessions).</p>"
        f"{_img(report.figures['beeswarm'], 'SHAP beeswarm')}"
        f'<div class="grid">{plots}</div></section>'
    )


def _trend(report: Report) -> str:
    config = report.config
    incidents = report.tables["incidents"]
    rule = (
        f"A day is flagged at a touchpoint when its mean contribution is at least {config.incident_z:g} "
        f"robust standard deviations ({MAD_TO_SD} x MAD over days) above that touchpoint's median day, "
        f"with at least {config.incident_min_sessions} sessions that day."
    )
    if incidents.empty:
        found = "<p>No day stands out.</p>"
    else:
        found = _table(
            incidents,
            [
                ("day", "day", _day),
                ("touchpoint", "touchpoint", None),
                ("sessions", "sessions", _num),
                ("mean_contribution", "mean contribution", _signed),
                ("baseline", "usual (median day)", _signed),
                ("z", "robust z", _num),
                ("segment", "concentrated in", None),
                ("value", "value", None),
                ("excess_contribution", "excess there", _signed),
            ],
        )
    return (
        '<section id="trend"><h2>Trend and incidents</h2>'
        f"{_img(report.figures['trend'], 'daily contribution per touchpoint')}"
        f'<p class="note">{_e(rule)}</p><h3 class="flag">Flagged days</h3>{found}'
        f"{_day_fixes(report)}</section>"
    )


def _day_fixes(report: Report) -> str:
    """What fixing the touchpoint would have spared on each flagged day (`impact_by_day`)."""
    incidents = report.tables["incidents"]
    if incidents.empty:
        return ""
    days = report.tables["impact_by_day"]
    flagged = incidents[["day", "touchpoint"]].drop_duplicates()
    rows = days.merge(flagged, on=["day", "touchpoint"], how="inner")
    if rows.empty:
        return ""
    table = _table(
        _with_intervals(rows),
        [
            ("day", "day", _day),
            ("touchpoint", "touchpoint", None),
            ("sessions", "sessions that day", _num),
            *_FIX_COLUMNS,
        ],
    )
    return (
        "<h3>Fix list on the flagged days</h3>"
        '<p class="note">The touchpoint\'s friction removed on that day only; the share is of that '
        "day's predicted dissatisfaction. Every day and touchpoint is in "
        "<code>tables/impact_by_day</code>.</p>"
        f"{table}"
    )


def _segments(report: Report) -> str:
    table = _table(
        report.tables["segments"],
        [
            ("segment", "segment", None),
            ("value", "value", None),
            ("sessions", "sessions", _num),
            ("share", "share", _pct),
            ("mean_risk", "mean predicted risk", _pct),
            ("observed_rate", "observed rate (labelled)", _pct),
            ("top_touchpoint", "hurts most", None),
            ("top_touchpoint_contribution", "its mean contribution", _signed),
        ],
    )
    return f'<section id="segments"><h2>Segments</h2>{table}{_segment_fixes(report)}</section>'


def _segment_fixes(report: Report) -> str:
    """The first fix of each segment value: the touchpoint whose friction costs it the most."""
    found = report.tables["impact_by_segment"]
    if found.empty:
        return ""
    first = found.sort_values("avoided", ascending=False, kind="stable").drop_duplicates(["segment", "value"])
    first = first.sort_values(["segment", "value"], kind="stable")
    table = _table(
        _with_intervals(first),
        [
            ("segment", "segment", None),
            ("value", "value", None),
            ("sessions", "sessions", _num),
            ("touchpoint", "first fix", None),
            *_FIX_COLUMNS,
        ],
    )
    return (
        "<h3>Fix list per segment</h3>"
        '<p class="note">The share is of the segment\'s own predicted dissatisfaction. Every touchpoint '
        "of every segment is in <code>tables/impact_by_segment</code>.</p>"
        f"{table}"
    )


def _session(report: Report, record: dict[Hashable, Any]) -> str:
    session_id = str(record["session_id"])
    drivers = report.tables["drivers"]
    rows = drivers[drivers["session_id"] == session_id]
    sentences = "".join(f"<li>{_e(s)}</li>" for s in rows["sentence"])
    timelines = report.tables["timelines"]
    events = timelines[timelines["session_id"] == session_id]
    if report.journey_from_events:
        columns: list[tuple[str, str, Cell | None]] = [
            ("seconds", "s", _num),
            ("touchpoint", "touchpoint", None),
            ("event", "event", None),
            ("page", "page", None),
            ("target", "target", None),
            ("load_ms", "load ms", _num),
        ]
        caption = "Event timeline (journey events, first ones)"
    else:
        columns = [
            ("touchpoint", "touchpoint", None),
            ("visits", "visits", _num),
            ("dwell_s", "dwell s", _num),
            ("contribution", "contribution", _signed),
        ]
        caption = "Touchpoints visited (from the feature table; pass --events for the event timeline)"
    return (
        f'<div class="session"><h3>#{_e(record["rank"])} session {_e(session_id)}: risk '
        f"{_pct(record['risk'])} ({_e(record['band'])}), started {_when(record['session_start'])}</h3>"
        f"{report.waterfalls[session_id]}"
        f"<ul>{sentences}</ul><h4>{_e(caption)}</h4>{_table(events, columns)}</div>"
    )


def _riskiest(report: Report) -> str:
    sessions = "".join(_session(report, r) for r in report.tables["riskiest"].to_dict("records"))
    return (
        '<section id="riskiest"><h2>Riskiest sessions</h2>'
        '<p class="note">Waterfall: the base value, each driver\'s contribution (log-odds), the rest, '
        "ending at the session's raw score.</p>"
        f"{sessions}</section>"
    )


SECTIONS = (
    ("headline", "Headline"),
    ("moments", "Fix list"),
    ("journey", "Journey map"),
    ("shap", "SHAP"),
    ("trend", "Trend and incidents"),
    ("segments", "Segments"),
    ("riskiest", "Riskiest sessions"),
)


def render_html(report: Report, title: str = "Friction report") -> str:
    nav = "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name in SECTIONS)
    info = "; ".join(f"{_e(k)}: {_e(v)}" for k, v in report.model_info.items())
    body = "".join(
        part(report) for part in (_headline, _moments, _journey, _shap, _trend, _segments, _riskiest)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(content_security_policy())}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><nav>{nav}</nav></header>"
        f"<main>{body}</main>"
        f"<footer>Model: {info}. Generated {_e(report.created_at)}. Tables exported as CSV and JSON "
        "in <code>tables/</code> beside this page.</footer>"
        "</body></html>\n"
    )
