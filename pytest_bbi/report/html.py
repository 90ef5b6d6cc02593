"""The self-contained HTML report: a summary table, then per test its decision, plots and pairs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_bbi.report.document import (
    calibration_rows,
    detectable_text,
    estimated,
    interval,
    power_note,
    recommendation,
    signed,
    sorted_entries,
    verdict_cells,
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
"""


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
    facts += [f"{name} did not play: {why}" for name, why in verdict.get("skipped", {}).items()]
    note = power_note(verdict)
    warning = "" if note is None else f' <span class="underpowered">{escape_text(note)}</span>'
    return (
        f'<p><span class="decision decision-{escape_attr(decision)}">'
        f"{escape_text(decision)}</span> — "
        f"{escape_text('; '.join(facts))}{warning}</p>"
    )


def _pairs(verdict: Mapping[str, Any]) -> str:
    """The held-out pairs the adversaries were most confident about, across every cell."""
    examples = [
        (example, bucket, result)
        for bucket, result in verdict_cells(verdict)
        for example in result["examples"]
    ]
    examples.sort(key=lambda item: -float(item[0]["confidence"]))
    if not examples:
        return '<p class="note">No held-out pairs were recorded.</p>'
    rows = []
    for example, bucket, result in examples[:_PAIRS_SHOWN]:
        call = "named the teacher" if example["correct"] else "named the student"
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
    return "\n".join(
        [
            "<h4>Most distinguishing pairs</h4>",
            '<table class="pairs">',
            '<colgroup><col class="text"><col class="text"><col class="text">'
            '<col class="confidence"></colgroup>',
            "<thead><tr><th>prompt</th><th>teacher</th><th>student</th>"
            "<th>adversary confidence</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
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


def _summary(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for index, entry in enumerate(entries, start=1):
        link = f'<a href="#test-{index}">{escape_text(entry["nodeid"])}</a>'
        outcome = escape_text(entry["outcome"])
        if not entry["verdicts"]:
            rows.append(
                f"<tr><td>{link}</td><td>{outcome}</td><td>no verdict</td>"
                "<td></td><td></td><td></td><td></td><td></td></tr>"
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
            "<thead><tr><th>test</th><th>outcome</th><th>decision</th><th>advantage</th>"
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
    if not verdicts:
        parts.append('<p class="note">This test recorded no verdict.</p>')
    for number, verdict in enumerate(verdicts, start=1):
        if len(verdicts) > 1:
            parts.append(f"<h3>Verdict {number} of {len(verdicts)}</h3>")
        parts += [
            _decision(verdict),
            advantage_plot(verdict),
            _pairs(verdict),
            _calibration(verdict),
        ]
    fingerprints = entry.get("fingerprints", [])
    if fingerprints:
        parts.append("<h3>Fingerprints</h3>")
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
        The page: the seed and plugin version, a summary table of every test (``id="summary"``)
        and, per test, its decision, an SVG plot of advantage by capability bucket × adversary
        with interval whiskers and the ε line (``class="advantage-plot"``), the most
        distinguishing pairs side by side (``class="pairs"``), the student's calibration when
        the test asked for it (``class="calibration"`` and ``class="calibration-plot"``) and
        its fingerprints.
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
            "<h2>Summary</h2>",
            _summary(entries),
            *(_section(index, entry) for index, entry in enumerate(entries, start=1)),
            "</body>",
            "</html>",
            "",
        ]
    )
