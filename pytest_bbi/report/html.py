"""The self-contained HTML report: a students × buckets matrix, a summary, then each test."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_bbi.report.document import (
    calibration_rows,
    detectable_text,
    estimated,
    fingerprint_summary,
    interval,
    model_name,
    power_note,
    recommendation,
    signed,
    skipped_lines,
    sorted_entries,
    verdict_cells,
    verdict_labels,
)
from pytest_bbi.report.escaping import escape_attr, escape_text
from pytest_bbi.report.plots import advantage_plot, calibration_plot
from pytest_bbi.verdict import UNDERPOWERED, population_words

_PAIRS_SHOWN = 6
_TEXT_LIMIT = 1200
_FIELD_ITEMS = 8
_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
  margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1rem; }
.meta { color: #555; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", monospace; }
table { border-collapse: collapse; margin: .6rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f5f5f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.decision { font-weight: 600; }
.decision-distinguishable { color: #b00020; }
.decision-certified { color: #0a7a32; }
.decision-undetected { color: #33415c; }
.decision-inconclusive { color: #8a5a00; }
.underpowered { color: #8a5a00; font-weight: 600; }
table.pairs { table-layout: fixed; width: 100%; }
table.pairs td { white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: plaintext; }
table.pairs col.text { width: 28%; }
table.pairs col.confidence { width: 16%; }
.cp { font: 11px ui-monospace, monospace; color: #7a0080; background: #f4e8f7;
  border-radius: 3px; padding: 0 2px; }
.note { color: #666; font-size: 12px; }
svg.calibration-plot { display: block; margin: .5rem 0; font: 12px system-ui, sans-serif; }
svg.advantage-plot { display: block; margin: .5rem 0; font: 12px system-ui, sans-serif; }
svg .grid { stroke: #e6e6e6; }
svg .zero { stroke: #999; }
svg .axis { stroke: #333; }
svg .band { stroke: #ececec; }
svg .epsilon { stroke: #b00020; stroke-dasharray: 6 4; stroke-width: 1.5; }
svg .epsilon-label { fill: #b00020; }
svg .target { stroke: #0a7a32; stroke-dasharray: 6 4; stroke-width: 1.5; }
svg .target-label { fill: #0a7a32; }
svg .timed-out .whisker { stroke-dasharray: 2 3; }
table.matrix td.cell { min-width: 9rem; text-align: center; }
table.matrix td.cell a { color: inherit; }
table.matrix td.untested { color: #999; text-align: center; }
table.matrix td.failing { outline: 2px solid #b00020; outline-offset: -2px; }
.skipped { color: #8a5a00; }
details.pairs-of-a-pass summary { cursor: pointer; font-weight: 600; }
"""
_COOL = (255, 255, 255)
_HOT = (224, 102, 102)


def _compact(value: Any) -> str:
    """A short plain-text rendering of a fingerprint value."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_compact(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        shown = [_compact(item) for item in value[:_FIELD_ITEMS]]
        more = [f"… {len(value) - _FIELD_ITEMS} more"] if len(value) > _FIELD_ITEMS else []
        return "[" + ", ".join(shown + more) + "]"
    return str(value)


def _decision(verdict: Mapping[str, Any]) -> str:
    decision = str(verdict["decision"])
    epsilons = sorted({b["epsilon"] for b in verdict["buckets"].values()}) or [verdict["epsilon"]]
    failing = [str(b["name"]) for b in verdict["buckets"].values() if not b["passed"]]
    facts = [
        f"mode {verdict['mode']}",
        f"ε = {'/'.join(f'{e:g}' for e in epsilons)}",
        f"α = {verdict['alpha']:g}",
        f"advantage {signed(estimated(verdict))} {interval(verdict['lower'], verdict['upper'])}",
        f"detectable advantage {detectable_text(verdict['detectable'])} (power 0.8)",
        f"population: {population_words(verdict['population'], verdict['prompts'])}",
        f"{verdict['queries']} of {verdict['budget_queries']} queries in {verdict['rounds']} "
        f"round{'s' if verdict['rounds'] != 1 else ''} ({verdict['acquisition']} acquisition)"
        if verdict["sequential"]
        else f"{verdict['queries']} queries",
        f"{verdict['seconds']:.2f} s adversary compute",
        f"{verdict['generation_seconds']:.2f} s generation",
        f"seed {verdict['seed']}",
    ]
    if failing:
        facts.append("failing: " + ", ".join(failing))
    if verdict["queries_to_decide"]:
        facts.append(f"about {verdict['queries_to_decide']} queries would likely decide")
    bound = verdict.get("certificate")
    if bound:
        facts.append(
            f"white-box certificate: no adversary's advantage exceeds "
            f"{bound['advantage_upper']:.3f} (estimated best {bound['advantage']:.3f})"
        )
    note = power_note(verdict)
    warning = "" if note is None else f' <span class="underpowered">{escape_text(note)}</span>'
    skipped = "".join(
        f'<p class="skipped">{escape_text(line)}</p>' for line in skipped_lines(verdict)
    )
    return (
        f'<p><span class="decision decision-{escape_attr(decision)}">'
        f"{escape_text(decision)}</span> — "
        f"{escape_text('; '.join(facts))}{warning}</p>{skipped}"
    )


def _pairs(verdict: Mapping[str, Any]) -> str:
    """The held-out pairs the adversaries were most confident about, across every cell.

    On a failure they are the evidence, shown open. On a pass no adversary was shown to beat
    ε, so a confident call is not evidence of a difference and may well be wrong (it named the
    student as the teacher); they are shown folded, under a heading that says so.
    """
    examples = [
        (example, bucket, result)
        for bucket, result in verdict_cells(verdict)
        for example in result["examples"]
    ]
    examples.sort(key=lambda item: -float(item[0]["confidence"]))
    if not examples:
        return '<p class="note">No held-out pairs were recorded.</p>'
    teacher = escape_text(repr(model_name(verdict, "teacher")))
    student = escape_text(repr(model_name(verdict, "student")))
    rows = []
    for example, bucket, result in examples[:_PAIRS_SHOWN]:
        call = (
            "named the teacher: right"
            if example["correct"]
            else "took the student for the teacher: wrong"
        )
        rows.append(
            "<tr>"
            f'<td dir="auto">{escape_text(example["prompt"], _TEXT_LIMIT)}</td>'
            f'<td dir="auto">{escape_text(example["teacher"], _TEXT_LIMIT)}</td>'
            f'<td dir="auto">{escape_text(example["student"], _TEXT_LIMIT)}</td>'
            f'<td class="num">{0.5 + float(example["confidence"]):.2f}<br>'
            f'<span class="note">{escape_text(result["name"])} · {escape_text(bucket["name"])} · '
            f"{call}</span></td>"
            "</tr>"
        )
    table = [
        '<table class="pairs">',
        '<colgroup><col class="text"><col class="text"><col class="text">'
        '<col class="confidence"></colgroup>',
        f"<thead><tr><th>prompt</th><th>teacher {teacher}</th><th>student {student}</th>"
        "<th>adversary confidence</th></tr></thead>",
        "<tbody>",
        *rows,
        "</tbody></table>",
    ]
    if not verdict["passed"]:
        return "\n".join(
            [
                "<h4>Most distinguishing pairs</h4>",
                '<p class="note">The held-out pairs the adversaries were most sure of: the '
                "evidence that told the student apart.</p>",
                *table,
            ]
        )
    return "\n".join(
        [
            '<details class="pairs-of-a-pass"><summary>The pairs the adversaries were most sure '
            "of (not evidence: this verdict passed)</summary>",
            '<p class="note">No adversary was shown to beat ε, so a confident call here is no '
            "evidence of a difference; a call marked wrong is a confident mistake (the adversary "
            "took the student for the teacher). Shown to help read what the adversaries looked "
            "at.</p>",
            *table,
            "</details>",
        ]
    )


def _calibration(verdict: Mapping[str, Any]) -> str:
    """The student's calibration: a table per bucket and a plot of agreement by confidence."""
    rows = calibration_rows(verdict)
    if not rows:
        return ""
    first = rows[0][1]
    body = []
    for label, calibration in rows:
        auroc = "–" if calibration["auroc"] is None else f"{calibration['auroc']:.2f}"
        body.append(
            f"<tr><td>{escape_text(label)}</td>"
            f'<td class="num">{calibration["samples"]}</td>'
            f'<td class="num">{calibration["agreement"]:.2f}</td>'
            f'<td class="num">{calibration["confidence"]:.3f} ± '
            f"{calibration['confidence_sd']:.3f}</td>"
            f'<td class="num">{auroc}</td>'
            f"<td>{escape_text(recommendation(calibration))}</td></tr>"
        )
    return "\n".join(
        [
            "<h4>Student calibration: when to fall back to the teacher</h4>",
            f'<p class="note">Confidence is the student\'s mean token log-probability of its own '
            f"answer; an answer agrees when {escape_text(first['rule'])} with the teacher's "
            "answer to "
            f"the same prompt. The threshold is the lowest whose served answers agree at rate "
            f"≥ {first['target']:g}, shown with confidence {1 - first['alpha']:g}. AUROC 0.5 "
            "means confidence says nothing about agreement.</p>",
            '<table class="calibration">',
            "<thead><tr><th>bucket</th><th>queries</th><th>agreement</th>"
            "<th>confidence</th><th>AUROC</th><th>recommendation</th></tr></thead>",
            "<tbody>",
            *body,
            "</tbody></table>",
            calibration_plot(rows),
        ]
    )


def _fingerprint(fingerprint: Mapping[str, Any]) -> str:
    """One fingerprint document as a (bucket, field, value) table."""
    metadata = fingerprint.get("metadata", {})
    about = ", ".join(f"{key}={_compact(value)}" for key, value in metadata.items())
    caption = f"{fingerprint.get('kind', '?')} fingerprint" + (f" ({about})" if about else "")
    rows = []
    for bucket, fields in fingerprint.get("statistics", {}).items():
        for name, value in fields.items():
            rows.append(
                f"<tr><td>{escape_text(bucket)}</td><td>{escape_text(name)}</td>"
                f"<td><code>{escape_text(_compact(value), _TEXT_LIMIT)}</code></td></tr>"
            )
    return "\n".join(
        [
            '<table class="fingerprint">',
            f"<caption>{escape_text(caption, _TEXT_LIMIT)}</caption>",
            "<thead><tr><th>bucket</th><th>field</th><th>value</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
        ]
    )


def advantage_colour(advantage: float) -> str:
    """The matrix colour of an advantage: white at 0 (or below), a muted red at 1."""
    share = min(1.0, max(0.0, advantage))
    channels = (round(c + (h - c) * share) for c, h in zip(_COOL, _HOT, strict=True))
    return "#" + "".join(f"{channel:02x}" for channel in channels)


def _bucket_word(bucket: Mapping[str, Any]) -> str:
    """One word for a bucket of a verdict, from its cells."""
    results = list(bucket["adversaries"].values())
    if any(result["rejected"] for result in results):
        return "distinguishable"
    if any(result["timed_out"] for result in results):
        return "timed out"
    if not bucket["passed"]:
        return "not certified"
    if results and all(result["within"] for result in results):
        return "within ε"
    return "undetected"


def _matrix(entries: Sequence[Mapping[str, Any]]) -> str:
    """Students × capability buckets, each cell coloured by its strongest estimated advantage.

    A row is one (student, teacher) pair; a cell lists every test that played that pair on
    that bucket, with the bucket's word, and links to the test's section.
    """
    pairs: dict[tuple[str, str], dict[str, list[tuple[int, Mapping[str, Any]]]]] = {}
    buckets: dict[str, None] = {}
    for index, entry in enumerate(entries, start=1):
        for verdict in entry["verdicts"]:
            pair = (model_name(verdict, "student"), model_name(verdict, "teacher"))
            cells = pairs.setdefault(pair, {})
            for name, bucket in verdict["buckets"].items():
                buckets.setdefault(str(name), None)
                cells.setdefault(str(name), []).append((index, bucket))
    if not pairs:
        return ""
    rows = []
    for (student, teacher), cells in pairs.items():
        row = [
            f'<tr><th scope="row">student {escape_text(repr(student))}<br>'
            f'<span class="note">vs teacher {escape_text(repr(teacher))}</span></th>'
        ]
        for name in buckets:
            hits = cells.get(name, [])
            if not hits:
                row.append('<td class="untested">not tested</td>')
                continue
            strongest = max(estimated(bucket) for _, bucket in hits)
            failing = " failing" if any(not bucket["passed"] for _, bucket in hits) else ""
            lines = "<br>".join(
                f'<a href="#test-{index}">{signed(estimated(bucket))} '
                f"{escape_text(_bucket_word(bucket))}</a>"
                for index, bucket in hits
            )
            row.append(
                f'<td class="cell{failing}" style="background:{advantage_colour(strongest)}" '
                f'data-student="{escape_attr(student)}" data-bucket="{escape_attr(name)}">'
                f"{lines}</td>"
            )
        rows.append("".join(row) + "</tr>")
    header = "".join(f'<th scope="col">{escape_text(name)}</th>' for name in buckets)
    return "\n".join(
        [
            "<h2>Students × capability buckets</h2>",
            '<p class="note">Each cell: the strongest adversary\'s estimated advantage in that '
            "bucket (0 = a coin flip, 1 = always told apart) and the bucket's word; the colour "
            "runs from white (advantage 0 or less) to red (advantage 1); a red outline marks a "
            "bucket that failed. Click a cell for its test.</p>",
            '<table class="matrix">',
            f"<thead><tr><th>student (teacher)</th>{header}</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
        ]
    )


def _skipped(entries: Sequence[Mapping[str, Any]]) -> str:
    """Every adversary that did not play, per test and pair, with why."""
    items = [
        f'<li><a href="#test-{index}">{escape_text(entry["nodeid"])}</a> '
        f"({escape_text(label)}): {escape_text(line)}</li>"
        for index, entry in enumerate(entries, start=1)
        for label, verdict in zip(verdict_labels(entry["verdicts"]), entry["verdicts"], strict=True)
        for line in skipped_lines(verdict)
    ]
    if not items:
        return ""
    return "\n".join(
        [
            "<h2>Adversaries that did not play</h2>",
            '<ul class="skipped">',
            *items,
            "</ul>",
        ]
    )


def _summary(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for index, entry in enumerate(entries, start=1):
        link = f'<a href="#test-{index}">{escape_text(entry["nodeid"])}</a>'
        outcome = escape_text(entry["outcome"])
        for fingerprint in entry.get("fingerprints", []):
            model = fingerprint.get("metadata", {}).get("model")
            rows.append(
                f"<tr><td>{link}</td><td>{outcome}</td><td></td>"
                f"<td>{'' if model is None else escape_text(model)}</td><td></td>"
                f'<td colspan="6">{escape_text(fingerprint_summary(fingerprint))}</td></tr>'
            )
        if not entry["verdicts"] and not entry.get("fingerprints"):
            rows.append(
                f"<tr><td>{link}</td><td>{outcome}</td><td></td><td></td><td></td>"
                '<td colspan="6">nothing recorded</td></tr>'
            )
        for verdict in entry["verdicts"]:
            decision = escape_text(verdict["decision"])
            mark = (
                f' <span class="underpowered">{UNDERPOWERED}</span>'
                if verdict["underpowered"]
                else ""
            )
            rows.append(
                f"<tr><td>{link}</td><td>{outcome}</td>"
                f"<td>{escape_text(model_name(verdict, 'teacher'))}</td>"
                f"<td>{escape_text(model_name(verdict, 'student'))}</td>"
                f"<td>{escape_text(', '.join(str(name) for name in verdict['buckets']))}</td>"
                f'<td><span class="decision decision-{escape_attr(verdict["decision"])}">{decision}'
                f"</span>{mark}</td>"
                f'<td class="num">{signed(estimated(verdict))}</td>'
                f'<td class="num">{interval(verdict["lower"], verdict["upper"])}</td>'
                f'<td class="num">{detectable_text(verdict["detectable"])}</td>'
                f'<td class="num">{verdict["queries"]}</td>'
                f'<td class="num">{verdict["seconds"]:.2f}</td></tr>'
            )
    return "\n".join(
        [
            '<table id="summary">',
            "<thead><tr><th>test</th><th>outcome</th><th>teacher</th><th>student</th>"
            "<th>capability buckets</th><th>decision</th><th>advantage</th>"
            "<th>interval</th><th>detectable</th><th>queries</th><th>seconds</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
        ]
    )


def _section(index: int, entry: Mapping[str, Any]) -> str:
    verdicts = entry["verdicts"]
    parts = [
        f'<section class="test" id="test-{index}">',
        f"<h2>{escape_text(entry['nodeid'])}</h2>",
        f'<p class="meta">outcome: {escape_text(entry["outcome"])}</p>',
    ]
    if not verdicts and not entry.get("fingerprints"):
        parts.append('<p class="note">This test recorded no verdict.</p>')
    for label, verdict in zip(verdict_labels(verdicts), verdicts, strict=True):
        parts.append(f'<h3 class="pair">{escape_text(label)}</h3>')
        parts += [
            _decision(verdict),
            advantage_plot(verdict),
            _pairs(verdict),
            _calibration(verdict),
        ]
    fingerprints = entry.get("fingerprints", [])
    if fingerprints:
        parts.append("<h3>Fingerprints</h3>")
        parts += [
            f'<p class="meta">{escape_text(fingerprint_summary(fingerprint))}</p>'
            for fingerprint in fingerprints
        ]
        parts += [_fingerprint(fingerprint) for fingerprint in fingerprints]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(report: Mapping[str, Any]) -> str:
    """Render a report (from :func:`build_report`) as one self-contained HTML page.

    The page loads nothing (a content security policy forbids it), needs no JavaScript, and
    escapes every piece of text, showing invisible and bidirectional-control code points as
    ``U+XXXX`` badges.

    Args:
        report: the report document.

    Returns:
        The page: the seed and plugin version, a matrix of students × capability buckets
        coloured by advantage (``class="matrix"``), the adversaries that did not play and why,
        a summary table of every test naming its teacher and student (``id="summary"``) and,
        per test and pair of models, its decision, an SVG plot of advantage by capability
        bucket × adversary with interval whiskers and the ε line (``class="advantage-plot"``),
        the most distinguishing pairs side by side (``class="pairs"``; folded, and said not to
        be evidence, on a pass), the student's calibration when the test asked for it
        (``class="calibration"`` and ``class="calibration-plot"``) and its fingerprints.
    """
    entries = sorted_entries(report["tests"])
    verdicts = sum(len(entry["verdicts"]) for entry in entries)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>pytest-bbi report</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<h1>pytest-bbi report</h1>",
            f'<p class="meta">seed <code>{escape_text(report["seed"])}</code> · pytest-bbi '
            f"<code>{escape_text(report['plugin_version'])}</code> · {len(entries)} tests, "
            f"{verdicts} verdicts · replay with "
            f"<code>--bbi-seed={escape_text(report['seed'])}</code>"
            "</p>",
            _matrix(entries),
            _skipped(entries),
            "<h2>Summary</h2>",
            _summary(entries),
            *(_section(index, entry) for index, entry in enumerate(entries, start=1)),
            "</body>",
            "</html>",
            "",
        ]
    )
