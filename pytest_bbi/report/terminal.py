"""The end-of-session terminal summary: the verdicts table and the calibration lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_bbi.report.document import (
    calibration_rows,
    cell_status,
    interval,
    recommendation,
    short_nodeid,
    signed,
    sorted_entries,
    verdict_cells,
)

_HEADER = (
    "test",
    "capability",
    "adversary",
    "advantage",
    "[lower, upper]",
    "n",
    "verdict",
    "queries",
    "seconds",
)
_RIGHT_ALIGNED = frozenset({"advantage", "n", "queries", "seconds"})


def summary_table(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the end-of-session table: one row per (test, capability bucket, adversary).

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        A header line and one aligned row per cell, tests sorted by node id; each row gives the
        advantage, its interval, correct/total, the verdict (``rejects``, ``within ε``, ``no
        evidence`` or ``timed out``), the bucket's queries and the adversary's seconds. An
        empty list when no test recorded a verdict.
    """
    rows = [
        (
            short_nodeid(str(entry["nodeid"])),
            str(bucket["name"]),
            str(result["name"]),
            signed(result["advantage"]),
            interval(result["lower"], result["upper"]),
            f"{result['correct']}/{result['total']}",
            cell_status(result, bucket["epsilon"]),
            str(bucket["queries"]),
            f"{result['seconds']:.2f}",
        )
        for entry in sorted_entries(entries)
        for verdict in entry["verdicts"]
        for bucket, result in verdict_cells(verdict)
    ]
    if not rows:
        return []
    widths = [max(len(row[column]) for row in [_HEADER, *rows]) for column in range(len(_HEADER))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if name in _RIGHT_ALIGNED else cell.ljust(width)
            for name, cell, width in zip(_HEADER, row, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(_HEADER), *(line(row) for row in rows)]


def calibration_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the student calibration reports of the session, one line per test and bucket.

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        Per (test, bucket) with a calibration report: the queries, the agreement with the
        teacher, the AUROC of confidence for agreement, and the fallback advice. An empty list
        when no test asked for calibration.
    """
    lines = []
    for entry in sorted_entries(entries):
        verdicts = entry["verdicts"]
        for number, verdict in enumerate(verdicts, start=1):
            test = short_nodeid(str(entry["nodeid"]))
            if len(verdicts) > 1:
                test += f" (verdict {number} of {len(verdicts)})"
            for label, calibration in calibration_rows(verdict):
                auroc = "–" if calibration["auroc"] is None else f"{calibration['auroc']:.2f}"
                lines.append(
                    f"{test} [{label}]: "
                    f"{calibration['samples']} queries, agreement {calibration['agreement']:.2f} "
                    f"({calibration['rule']}), AUROC {auroc}; {recommendation(calibration)}"
                )
    return lines
