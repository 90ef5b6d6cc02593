"""The end-of-session terminal summary: the verdicts table and the calibration lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_bbi.report.document import (
    calibration_rows,
    cell_word,
    detectable_text,
    estimated,
    interval,
    power_note,
    recommendation,
    short_nodeid,
    signed,
    sorted_entries,
    verdict_cells,
)
from pytest_bbi.verdict import population_words

_HEADER = (
    "test",
    "capability",
    "adversary",
    "advantage",
    "[lower, upper]",
    "n",
    "verdict",
    "detectable",
    "queries",
    "seconds",
)
_RIGHT_ALIGNED = frozenset({"advantage", "n", "detectable", "queries", "seconds"})


def summary_table(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the end-of-session table: one row per (test, capability bucket, adversary).

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        A header line and one aligned row per cell, tests sorted by node id; each row gives the
        estimated advantage, its interval, correct/total, the cell's word
        (:data:`~pytest_bbi.verdict.CellStatus`: ``distinguishable``, ``within ε``,
        ``undetected`` or ``timed out``), the bucket's detectable advantage (power 0.8), the
        bucket's queries and the adversary's seconds; then one line per verdict
        (:func:`power_lines`). An empty list when no test recorded a verdict.
    """
    rows = [
        (
            short_nodeid(str(entry["nodeid"])),
            str(bucket["name"]),
            str(result["name"]),
            signed(estimated(result)),
            interval(result["lower"], result["upper"]),
            f"{result['correct']}/{result['total']}",
            cell_word(result),
            detectable_text(bucket["detectable"]),
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

    return [line(_HEADER), *(line(row) for row in rows), *power_lines(entries)]


def power_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per verdict: its decision, population and detectable advantage.

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        Per verdict, e.g. ``test_x.py::test_y: undetected over the 50 prompts given …;
        detectable advantage 0.594``, with the under-powered note when it applies.
    """
    lines = []
    for entry in sorted_entries(entries):
        verdicts = entry["verdicts"]
        for number, verdict in enumerate(verdicts, start=1):
            test = short_nodeid(str(entry["nodeid"]))
            if len(verdicts) > 1:
                test += f" (verdict {number} of {len(verdicts)})"
            line = (
                f"{test}: {verdict['decision']} over "
                f"{population_words(verdict['population'], verdict['prompts'])}; detectable "
                f"advantage {detectable_text(verdict['detectable'])}"
            )
            note = power_note(verdict)
            lines.append(line if note is None else f"{line}; {note}")
    return lines


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
