"""What a user reads: the failure message, the session's JSON document, terminal and HTML pages.

``message`` formats one failed verdict; ``document`` assembles the session's report (and its
schema), which ``terminal`` and ``html`` render.
"""

from pytest_bbi.report.document import REPORT_SCHEMA_VERSION, build_report, report_schema
from pytest_bbi.report.html import render_html
from pytest_bbi.report.message import format_verdict
from pytest_bbi.report.terminal import calibration_lines, summary_table

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "build_report",
    "calibration_lines",
    "format_verdict",
    "render_html",
    "report_schema",
    "summary_table",
]
