"""The analyst report: which moments of the journey hurt, how much, for whom, since when.

    report = build_report(model, features, events=None, config=ReportConfig())
    write_report_files(report, folder)     # report.html + tables/*.csv|json

Modules: config (knobs), scoring (all sessions, in blocks), tables (every table),
incidents (the day-flagging rule), journey (transition graph, timelines), plots (PNG data
URIs), html (the self-contained page), exports (the files).
"""

from models.report.build import Report, build_report
from models.report.config import ReportConfig
from models.report.exports import HTML_FILE, TABLES_DIR, write_report_files
from models.report.html import content_security_policy, render_html

__all__ = [
    "HTML_FILE",
    "TABLES_DIR",
    "Report",
    "ReportConfig",
    "build_report",
    "content_security_policy",
    "render_html",
    "write_report_files",
]
