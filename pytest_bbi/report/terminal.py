"""The end-of-session terminal summary: the verdicts table and the calibration lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_bbi.report.document import (
    calibration_rows,
    cell_word,
    detectable_text,
    estimated,
    fingerprint_summary,
    interval,
    model_name,
    power_note,
    recommendation,
    short_nodeid,
    signed,
    skipped_lines,
    sorted_entries,
    verdict_cells,
    verdict_labels,
)
from pytest_bbi.verdict import population_words

_HEADER = (
    "test",
    "teacher",
    "student",
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
_SKIPPED = "did not play"


def _rows(entry: Mapping[str, Any], verdict: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """A verdict's rows: one per (bucket, adversary) cell, then one per adversary left out."""
    test = short_nodeid(str(entry["nodeid"]))
    models = model_name(verdict, "teacher"), model_name(verdict, "student")
    rows: list[tuple[str, ...]] = [
        (
            test,
            *models,
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
        for bucket, result in verdict_cells(verdict)
    ]
    buckets = ",".join(str(name) for name in verdict["buckets"])
    rows += [
        (test, *models, buckets, str(name), "", "", "", _SKIPPED, "", "", "")
        for name in verdict.get("skipped", {})
    ]
    return rows


def summary_table(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the end-of-session table: one row per (test, capability bucket, adversary).

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        A header line and one aligned row per cell, tests sorted by node id; each row names the
        teacher, the student and the bucket and gives the estimated advantage, its interval,
        correct/total, the cell's word
        (:data:`~pytest_bbi.verdict.CellStatus`: ``distinguishable``, ``within ε``,
        ``undetected`` or ``timed out``), the bucket's detectable advantage (power 0.8), the
        bucket's queries and the adversary's seconds; an adversary that did not play has a row
        saying so (over the verdict's buckets). Then one line per verdict with its decision and
        the reasons adversaries did not play (:func:`power_lines`), and one per fingerprint
        (:func:`fingerprint_lines`). An empty list when no test recorded either.
    """
    rows = [
        row
        for entry in sorted_entries(entries)
        for verdict in entry["verdicts"]
        for row in _rows(entry, verdict)
    ]
    if not rows:
        return fingerprint_lines(entries)
    widths = [max(len(row[column]) for row in [_HEADER, *rows]) for column in range(len(_HEADER))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if name in _RIGHT_ALIGNED else cell.ljust(width)
            for name, cell, width in zip(_HEADER, row, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [
        line(_HEADER),
        *(line(row) for row in rows),
        *power_lines(entries),
        *fingerprint_lines(entries),
    ]


def power_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per verdict: its decision, population and detectable advantage.

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        Per verdict, e.g. ``test_x.py::test_y (student 'int8' vs teacher 'smollm2'): undetected
        over the 50 prompts given …; detectable advantage 0.594``, with the under-powered note
        when it applies; then one line per adversary that did not play, with why.
    """
    lines = []
    for entry in sorted_entries(entries):
        verdicts = entry["verdicts"]
        for label, verdict in zip(verdict_labels(verdicts), verdicts, strict=True):
            test = f"{short_nodeid(str(entry['nodeid']))} ({label})"
            line = (
                f"{test}: {verdict['decision']} over "
                f"{population_words(verdict['population'], verdict['prompts'])}; detectable "
                f"advantage {detectable_text(verdict['detectable'])}"
            )
            note = power_note(verdict)
            lines.append(line if note is None else f"{line}; {note}")
            lines += [f"{test}: {skipped}" for skipped in skipped_lines(verdict)]
    return lines


def fingerprint_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per fingerprint a test recorded: its kind, model and size.

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        E.g. ``test_x.py::test_fp (passed): model fingerprint of model 'teacher': 12 fields
        over factual``; the outcome says whether its snapshot comparison (if any) held.
    """
    return [
        f"{short_nodeid(str(entry['nodeid']))} ({entry['outcome']}): "
        f"{fingerprint_summary(fingerprint)}"
        for entry in sorted_entries(entries)
        for fingerprint in entry.get("fingerprints", [])
    ]


def calibration_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the student calibration reports of the session, one line per test and bucket.

    Args:
        entries: the session's test entries (as given to :func:`build_report`).

    Returns:
        Per (test, bucket) with a calibration report, naming the student and the teacher: the
        queries, the agreement with the
        teacher, the AUROC of confidence for agreement, and the fallback advice. An empty list
        when no test asked for calibration.
    """
    lines = []
    for entry in sorted_entries(entries):
        verdicts = entry["verdicts"]
        for pair, verdict in zip(verdict_labels(verdicts), verdicts, strict=True):
            test = f"{short_nodeid(str(entry['nodeid']))} ({pair})"
            for label, calibration in calibration_rows(verdict):
                auroc = "–" if calibration["auroc"] is None else f"{calibration['auroc']:.2f}"
                lines.append(
                    f"{test} [{label}]: "
                    f"{calibration['samples']} queries, agreement {calibration['agreement']:.2f} "
                    f"({calibration['rule']}), AUROC {auroc}; {recommendation(calibration)}"
                )
    return lines
