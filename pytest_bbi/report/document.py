"""The session's report document: plain JSON data, its schema, and the helpers that read it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from pytest_bbi.verdict import UNDERPOWERED, cell_status

__all__ = ["REPORT_SCHEMA_VERSION", "build_report", "report_schema"]

REPORT_SCHEMA_VERSION = 3
"""The version of the report document; bumped whenever its shape changes.

Version 3 (names on every row): verdicts gained ``teacher`` and ``student``, the models' names.
The schema still accepts version 2 documents, which lack them.

Version 2 (the second statistical engine): the decision ``"indistinguishable"`` became
``"undetected"``; verdicts gained ``estimate``, ``detectable``, ``detect_target``,
``underpowered``, ``queries_for_power``, ``population``, ``prompts`` and ``frozen``; buckets
``prompts``, ``estimate`` and ``detectable``; adversary results ``estimate``,
``certify_p_value`` and ``within``; the certificate bounds the pairwise advantage directly
(``advantage``, ``anytime``)."""
_REPORT_SCHEMA = "pytest-bbi/report"
_SCHEMA_FILE = "report_schema.json"


def _plain(value: Any) -> Any:
    """Return ``value`` as JSON data: mappings as dicts with string keys, sequences as lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def build_report(
    entries: Sequence[Mapping[str, Any]], *, seed: int, plugin_version: str
) -> dict[str, Any]:
    """Assemble the session's report document.

    Args:
        entries: one mapping per test, with ``nodeid``, ``outcome``, ``verdicts`` (verdict dicts
            from :meth:`~pytest_bbi.verdict.Verdict.to_dict`) and ``fingerprints`` (fingerprint
            documents parsed from JSON).
        seed: the session's run seed.
        plugin_version: the installed pytest-bbi version.

    Returns:
        The report as plain JSON data, tests sorted by node id. It carries no timestamp, so two
        runs with the same seed differ only in the verdicts' ``seconds`` fields.
    """
    return {
        "schema": _REPORT_SCHEMA,
        "version": REPORT_SCHEMA_VERSION,
        "seed": seed,
        "plugin_version": plugin_version,
        "tests": [_plain(entry) for entry in sorted_entries(entries)],
    }


def report_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the report that :func:`build_report` makes."""
    text = resources.files("pytest_bbi.report").joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def short_nodeid(nodeid: str) -> str:
    """``tests/unit/test_x.py::test_y[p]`` → ``test_x.py::test_y[p]``."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def cell_word(result: Mapping[str, Any]) -> str:
    """The one word for one (bucket, adversary) cell (:func:`pytest_bbi.verdict.cell_status`)."""
    return cell_status(
        timed_out=bool(result["timed_out"]),
        rejected=bool(result["rejected"]),
        within=bool(result["within"]),
    )


def estimated(result: Mapping[str, Any]) -> float:
    """A result's estimated advantage on the population (its observed one when it has none)."""
    value = result.get("estimate")
    return float(result["advantage"] if value is None else value)


def detectable_text(value: float | None) -> str:
    """A detectable advantage in words: the number, or "> 1" when not even 1 is detectable."""
    return "> 1" if value is None else f"{value:.3f}"


def power_note(verdict: Mapping[str, Any]) -> str | None:
    """For an under-powered pass, what it could not see and what would see it; else None."""
    if not verdict.get("underpowered"):
        return None
    target = verdict["detect_target"]
    more = (
        f"about {verdict['queries_for_power']} queries would detect {target:g} with power 0.8"
        if verdict.get("queries_for_power")
        else f"no budget the planner tried detects {target:g}"
    )
    return (
        f"{UNDERPOWERED}: detectable advantage {detectable_text(verdict['detectable'])} "
        f"> {target:g} (max(2ε, 0.05)); {more}"
    )


def signed(value: float) -> str:
    return f"{value:+.3f}"


def interval(lower: float, upper: float) -> str:
    return f"[{signed(lower)}, {signed(upper)}]"


def verdict_cells(
    verdict: Mapping[str, Any],
) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Every (bucket, adversary result) pair of a verdict, in the order they were decided."""
    for bucket in verdict["buckets"].values():
        for result in bucket["adversaries"].values():
            yield bucket, result


def sorted_entries(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(entries, key=lambda entry: str(entry["nodeid"]))


def model_name(verdict: Mapping[str, Any], role: str) -> str:
    """The ``role`` (``"teacher"`` or ``"student"``) model's name, or "unnamed" when unknown."""
    name = verdict.get(role)
    return "unnamed" if name is None else str(name)


def pair_label(verdict: Mapping[str, Any]) -> str:
    """The two models of a verdict in words, e.g. "student 'distilled' vs teacher 'smollm2'"."""
    return (
        f"student {model_name(verdict, 'student')!r} vs teacher {model_name(verdict, 'teacher')!r}"
    )


def verdict_labels(verdicts: Sequence[Mapping[str, Any]]) -> list[str]:
    """One label per verdict of a test: its models (:func:`pair_label`).

    A label is numbered ("…, verdict 2 of 3") only when two verdicts of the test compare the
    same two models.
    """
    pairs = [pair_label(verdict) for verdict in verdicts]
    return [
        f"{pair}, verdict {number} of {len(verdicts)}" if pairs.count(pair) > 1 else pair
        for number, pair in enumerate(pairs, start=1)
    ]


def skipped_lines(verdict: Mapping[str, Any]) -> list[str]:
    """One sentence per adversary that did not play in a verdict, with why."""
    return [
        f"adversary {name!r} did not play: {reason}"
        for name, reason in verdict.get("skipped", {}).items()
    ]


def fingerprint_summary(fingerprint: Mapping[str, Any]) -> str:
    """One fingerprint in words: its kind, the model it describes and its size."""
    metadata = fingerprint.get("metadata", {})
    statistics = fingerprint.get("statistics", {})
    fields = sum(len(bucket) for bucket in statistics.values())
    kind = str(fingerprint.get("kind", "?"))
    model = f" of model {metadata['model']!r}" if "model" in metadata else ""
    buckets = ", ".join(str(bucket) for bucket in statistics) or "no bucket"
    return f"{kind} fingerprint{model}: {fields} field{'s' if fields != 1 else ''} over {buckets}"


def calibration_rows(verdict: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, calibration) per bucket that has one, then the overall one when there are several."""
    rows = [
        (str(bucket["name"]), bucket["calibration"])
        for bucket in verdict["buckets"].values()
        if bucket.get("calibration")
    ]
    if len(rows) > 1 and verdict.get("calibration"):
        rows.append(("all buckets", verdict["calibration"]))
    return rows


def recommendation(calibration: Mapping[str, Any]) -> str:
    """The fallback advice of one calibration report, in words."""
    if calibration["threshold"] is None:
        best = max(calibration["operating_points"], key=lambda point: point["lower"])
        return (
            f"no threshold shows agreement ≥ {calibration['target']:g}: fall back to the teacher "
            f"always, or measure more queries (the best: its {best['coverage']:.0%} most "
            f"confident answers agree at {best['agreement']:.2f}, ≥ {best['lower']:.2f})"
        )
    if calibration["coverage"] >= 1.0:
        return "no fallback needed"
    return (
        f"fall back below {calibration['threshold']:.3f}: the student serves "
        f"{calibration['coverage']:.0%} at agreement {calibration['served_agreement']:.2f} "
        f"(≥ {calibration['served_lower']:.2f})"
    )
