"""The session's report: a JSON document, its schema, the terminal summary and an HTML page."""

from __future__ import annotations

import html
import json
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "build_report",
    "calibration_lines",
    "render_html",
    "report_schema",
    "summary_table",
]

REPORT_SCHEMA_VERSION = 1
"""The version of the report document; bumped whenever its shape changes incompatibly."""

_REPORT_SCHEMA = "pytest-bbi/report"
_SCHEMA_FILE = "report_schema.json"
_PAIRS_SHOWN = 6
_TEXT_LIMIT = 1200
_FIELD_ITEMS = 8
# Code points that would be invisible, or would reorder the text around them, are shown by name.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_KEPT_CONTROLS = frozenset("\n\t")
# Okabe–Ito colours, without the yellow that vanishes on white.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)
_PLOT_WIDTH = 760
_PLOT_LEFT = 64
_PLOT_RIGHT = 744
_PLOT_TOP = 16
_PLOT_HEIGHT = 240
_LEGEND_ROW = 20
_REJECTED = 'stroke="#000" stroke-width="2.5"'
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
.decision-indistinguishable, .decision-certified { color: #0a7a32; }
.decision-inconclusive { color: #8a5a00; }
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


# --------------------------------------------------------------------------------------------
# The JSON document and its schema
# --------------------------------------------------------------------------------------------


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
        "tests": [_plain(entry) for entry in _sorted_entries(entries)],
    }


def report_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the report that :func:`build_report` makes."""
    text = resources.files("pytest_bbi").joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _short_nodeid(nodeid: str) -> str:
    """``tests/unit/test_x.py::test_y[p]`` → ``test_x.py::test_y[p]``."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def _status(result: Mapping[str, Any], epsilon: float) -> str:
    """The one-word verdict on one (bucket, adversary) cell."""
    if result["timed_out"]:
        return "timed out"
    if result["rejected"]:
        return "rejects"
    if result["upper"] <= epsilon:
        return "within ε"
    return "no evidence"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _interval(lower: float, upper: float) -> str:
    return f"[{_signed(lower)}, {_signed(upper)}]"


def _cells(verdict: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Every (bucket, adversary result) pair of a verdict, in the order they were decided."""
    for bucket in verdict["buckets"].values():
        for result in bucket["adversaries"].values():
            yield bucket, result


def _sorted_entries(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(entries, key=lambda entry: str(entry["nodeid"]))


# --------------------------------------------------------------------------------------------
# The terminal summary
# --------------------------------------------------------------------------------------------

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
            _short_nodeid(str(entry["nodeid"])),
            str(bucket["name"]),
            str(result["name"]),
            _signed(result["advantage"]),
            _interval(result["lower"], result["upper"]),
            f"{result['correct']}/{result['total']}",
            _status(result, bucket["epsilon"]),
            str(bucket["queries"]),
            f"{result['seconds']:.2f}",
        )
        for entry in _sorted_entries(entries)
        for verdict in entry["verdicts"]
        for bucket, result in _cells(verdict)
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
    for entry in _sorted_entries(entries):
        verdicts = entry["verdicts"]
        for number, verdict in enumerate(verdicts, start=1):
            test = _short_nodeid(str(entry["nodeid"]))
            if len(verdicts) > 1:
                test += f" (verdict {number} of {len(verdicts)})"
            for label, calibration in _calibration_rows(verdict):
                auroc = "–" if calibration["auroc"] is None else f"{calibration['auroc']:.2f}"
                lines.append(
                    f"{test} [{label}]: "
                    f"{calibration['samples']} queries, agreement {calibration['agreement']:.2f} "
                    f"({calibration['rule']}), AUROC {auroc}; {_recommendation(calibration)}"
                )
    return lines


# --------------------------------------------------------------------------------------------
# HTML: text
# --------------------------------------------------------------------------------------------


def _text(value: object, limit: int | None = None) -> str:
    """Escape text for HTML, showing hidden and reordering code points as ``U+XXXX`` badges.

    Args:
        value: the text (anything else is turned into text first).
        limit: the most characters shown; longer text ends with an ellipsis.

    Returns:
        HTML that displays the text as written, with nothing in it that the browser interprets.
    """
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    parts: list[str] = []
    for char in text:
        if char not in _KEPT_CONTROLS and unicodedata.category(char) in _HIDDEN_CATEGORIES:
            parts.append(f'<span class="cp">U+{ord(char):04X}</span>')
        else:
            parts.append(html.escape(char))
    return "".join(parts)


def _attr(value: object) -> str:
    """Escape a value for a double-quoted attribute, replacing code points HTML cannot carry."""
    text = "".join(
        "\ufffd" if unicodedata.category(char) in {"Cs", "Cc"} else char for char in str(value)
    )
    return html.escape(text, quote=True)


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


# --------------------------------------------------------------------------------------------
# HTML: the advantage plot
# --------------------------------------------------------------------------------------------


def _y(value: float) -> float:
    """The plot's y coordinate of an advantage, clamped to the axis [−1, 1]."""
    clamped = min(1.0, max(-1.0, value)) if math.isfinite(value) else 0.0
    return _PLOT_TOP + (1.0 - clamped) / 2.0 * _PLOT_HEIGHT


def _tick_label(value: float) -> str:
    return f"{value:g}".replace("-", "−")


def _epsilon_segments(epsilons: Sequence[float], band: float) -> list[tuple[float, float, float]]:
    """Runs of consecutive buckets sharing an ε, as (x from, x to, ε)."""
    segments: list[tuple[float, float, float]] = []
    for index, epsilon in enumerate(epsilons):
        start, end = _PLOT_LEFT + index * band, _PLOT_LEFT + (index + 1) * band
        if segments and segments[-1][2] == epsilon:
            segments[-1] = (segments[-1][0], end, epsilon)
        else:
            segments.append((start, end, epsilon))
    return segments


def _legend(items: Sequence[tuple[str, str]], top: float) -> tuple[list[str], float]:
    """Legend items, as (label, SVG attributes of its marker), laid out in rows under the plot.

    Returns:
        The legend's SVG lines and the height it takes.
    """
    parts: list[str] = ['<g class="legend">']
    x, y = float(_PLOT_LEFT), top
    for label, marker in items:
        width = 28 + 7.5 * len(label)
        if x + width > _PLOT_RIGHT and x > _PLOT_LEFT:
            x, y = float(_PLOT_LEFT), y + _LEGEND_ROW
        parts += [
            f'<circle cx="{x + 6:.1f}" cy="{y:.1f}" r="5" {marker}/>',
            f'<text x="{x + 16:.1f}" y="{y + 4:.1f}">{_text(label)}</text>',
        ]
        x += width
    parts.append("</g>")
    return parts, y - top + _LEGEND_ROW


def _plot(verdict: Mapping[str, Any]) -> str:
    """An inline SVG of advantage by bucket × adversary, with intervals, ε and a legend."""
    buckets = list(verdict["buckets"].values())
    names = list(dict.fromkeys(result["name"] for _, result in _cells(verdict)))
    colors = {name: _PALETTE[index % len(_PALETTE)] for index, name in enumerate(names)}
    band = (_PLOT_RIGHT - _PLOT_LEFT) / max(1, len(buckets))
    bottom = _PLOT_TOP + _PLOT_HEIGHT
    rotate = any(7.0 * len(str(bucket["name"])) > band - 8 for bucket in buckets)
    parts: list[str] = []
    for tick in _TICKS:
        y = _y(tick)
        kind = "zero" if tick == 0 else "grid"
        parts += [
            f'<line class="{kind}" x1="{_PLOT_LEFT}" y1="{y:.1f}" x2="{_PLOT_RIGHT}" '
            f'y2="{y:.1f}"/>',
            f'<line class="axis" x1="{_PLOT_LEFT - 5}" y1="{y:.1f}" x2="{_PLOT_LEFT}" '
            f'y2="{y:.1f}"/>',
            f'<text class="tick" x="{_PLOT_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_tick_label(tick)}</text>",
        ]
    middle = _PLOT_TOP + _PLOT_HEIGHT / 2
    parts += [
        f'<line class="axis" x1="{_PLOT_LEFT}" y1="{_PLOT_TOP}" x2="{_PLOT_LEFT}" y2="{bottom}"/>',
        f'<text class="axis-title" x="16" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {middle:.1f})">advantage</text>',
    ]
    for index, bucket in enumerate(buckets):
        left = _PLOT_LEFT + index * band
        center = left + band / 2
        if index:
            parts.append(
                f'<line class="band" x1="{left:.1f}" y1="{_PLOT_TOP}" x2="{left:.1f}" '
                f'y2="{bottom}"/>'
            )
        label_y = bottom + 18
        turn = f' transform="rotate(-30 {center:.1f} {label_y})"' if rotate else ""
        anchor = "end" if rotate else "middle"
        parts.append(
            f'<text class="bucket" x="{center:.1f}" y="{label_y}" text-anchor="{anchor}"{turn}>'
            f"{_text(bucket['name'], 40)}</text>"
        )
        results = list(bucket["adversaries"].values())
        for slot, result in enumerate(results, start=1):
            parts += _cell(bucket, result, left + band * slot / (len(results) + 1), colors)
    for start, end, epsilon in _epsilon_segments([b["epsilon"] for b in buckets], band):
        y = _y(epsilon)
        parts += [
            f'<line class="epsilon" x1="{start:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}"/>',
            f'<text class="epsilon-label" x="{end - 4:.1f}" y="{y - 5:.1f}" text-anchor="end">'
            f"ε = {epsilon:g}</text>",
        ]
    scored = [result for _, result in _cells(verdict)]
    items = [(name, f'fill="{colors[name]}"') for name in names]
    if any(result["rejected"] for result in scored):
        items.append(("rejects H0", f'fill="#fff" {_REJECTED}'))
    if any(result["timed_out"] for result in scored):
        items.append(("timed out", 'fill="#fff" stroke="#333"'))
    legend_top = bottom + (84 if rotate else 44)
    legend, legend_height = _legend(items, legend_top)
    height = legend_top + legend_height
    caption = f"advantage by capability and adversary, {verdict['mode']} mode"
    return "\n".join(
        [
            f'<svg class="advantage-plot" width="{_PLOT_WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {_PLOT_WIDTH} {height:.0f}" role="img" aria-label="{_attr(caption)}">',
            *parts,
            *legend,
            "</svg>",
        ]
    )


def _cell(
    bucket: Mapping[str, Any], result: Mapping[str, Any], x: float, colors: Mapping[str, str]
) -> list[str]:
    """One (bucket, adversary) cell: a whisker from lower to upper, its caps and the point."""
    color = colors[result["name"]]
    top, low, point = _y(result["upper"]), _y(result["lower"]), _y(result["advantage"])
    status = _status(result, bucket["epsilon"])
    classes = "cell timed-out" if result["timed_out"] else "cell"
    fill = "#fff" if result["timed_out"] else color
    outline, radius = (_REJECTED, 6.5) if result["rejected"] else (f'stroke="{color}"', 5.0)
    tip = (
        f"{bucket['name']} / {result['name']}: advantage {_signed(result['advantage'])} "
        f"{_interval(result['lower'], result['upper'])}, "
        f"{result['correct']}/{result['total']} correct, {status}"
    )
    return [
        f'<g class="{classes}" data-bucket="{_attr(bucket["name"])}" '
        f'data-adversary="{_attr(result["name"])}">',
        f"<title>{_text(tip)}</title>",
        f'<line class="whisker" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{low:.1f}" '
        f'stroke="{color}" stroke-width="2"/>',
        f'<line class="cap" x1="{x - 5:.1f}" y1="{top:.1f}" x2="{x + 5:.1f}" y2="{top:.1f}" '
        f'stroke="{color}" stroke-width="2"/>',
        f'<line class="cap" x1="{x - 5:.1f}" y1="{low:.1f}" x2="{x + 5:.1f}" y2="{low:.1f}" '
        f'stroke="{color}" stroke-width="2"/>',
        f'<circle class="point" cx="{x:.1f}" cy="{point:.1f}" r="{radius}" fill="{fill}" '
        f"{outline}/>",
        "</g>",
    ]


# --------------------------------------------------------------------------------------------
# HTML: tables and sections
# --------------------------------------------------------------------------------------------


def _decision(verdict: Mapping[str, Any]) -> str:
    decision = str(verdict["decision"])
    epsilons = sorted({b["epsilon"] for b in verdict["buckets"].values()}) or [verdict["epsilon"]]
    failing = [str(b["name"]) for b in verdict["buckets"].values() if not b["passed"]]
    facts = [
        f"mode {verdict['mode']}",
        f"ε = {'/'.join(f'{e:g}' for e in epsilons)}",
        f"α = {verdict['alpha']:g}",
        f"advantage {_signed(verdict['advantage'])} "
        f"{_interval(verdict['lower'], verdict['upper'])}",
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
            f"{bound['advantage_upper']:.3f} (mean TV ≤ {bound['tv_upper']:.3f})"
        )
    facts += [f"{name} did not play: {why}" for name, why in verdict.get("skipped", {}).items()]
    return (
        f'<p><span class="decision decision-{_attr(decision)}">{_text(decision)}</span> — '
        f"{_text('; '.join(facts))}</p>"
    )


def _pairs(verdict: Mapping[str, Any]) -> str:
    """The held-out pairs the adversaries were most confident about, across every cell."""
    examples = [
        (example, bucket, result)
        for bucket, result in _cells(verdict)
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
            f'<td dir="auto">{_text(example["prompt"], _TEXT_LIMIT)}</td>'
            f'<td dir="auto">{_text(example["teacher"], _TEXT_LIMIT)}</td>'
            f'<td dir="auto">{_text(example["student"], _TEXT_LIMIT)}</td>'
            f'<td class="num">{0.5 + float(example["confidence"]):.2f}<br>'
            f'<span class="note">{_text(result["name"])} · {_text(bucket["name"])} · '
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


def _calibration_rows(verdict: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, calibration) per bucket that has one, then the overall one when there are several."""
    rows = [
        (str(bucket["name"]), bucket["calibration"])
        for bucket in verdict["buckets"].values()
        if bucket.get("calibration")
    ]
    if len(rows) > 1 and verdict.get("calibration"):
        rows.append(("all buckets", verdict["calibration"]))
    return rows


def _recommendation(calibration: Mapping[str, Any]) -> str:
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


def _calibration(verdict: Mapping[str, Any]) -> str:
    """The student's calibration: a table per bucket and a plot of agreement by confidence."""
    rows = _calibration_rows(verdict)
    if not rows:
        return ""
    first = rows[0][1]
    body = []
    for label, calibration in rows:
        auroc = "–" if calibration["auroc"] is None else f"{calibration['auroc']:.2f}"
        body.append(
            f"<tr><td>{_text(label)}</td>"
            f'<td class="num">{calibration["samples"]}</td>'
            f'<td class="num">{calibration["agreement"]:.2f}</td>'
            f'<td class="num">{calibration["confidence"]:.3f} ± '
            f"{calibration['confidence_sd']:.3f}</td>"
            f'<td class="num">{auroc}</td>'
            f"<td>{_text(_recommendation(calibration))}</td></tr>"
        )
    return "\n".join(
        [
            "<h4>Student calibration: when to fall back to the teacher</h4>",
            f'<p class="note">Confidence is the student\'s mean token log-probability of its own '
            f"answer; an answer agrees when {_text(first['rule'])} with the teacher's answer to "
            f"the same prompt. The threshold is the lowest whose served answers agree at rate "
            f"≥ {first['target']:g}, shown with confidence {1 - first['alpha']:g}. AUROC 0.5 "
            "means confidence says nothing about agreement.</p>",
            '<table class="calibration">',
            "<thead><tr><th>bucket</th><th>queries</th><th>agreement</th>"
            "<th>confidence</th><th>AUROC</th><th>recommendation</th></tr></thead>",
            "<tbody>",
            *body,
            "</tbody></table>",
            _calibration_plot(rows),
        ]
    )


def _calibration_plot(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Agreement by confidence bin, one line per bucket, with the target as a dashed line."""
    points = [bin_ for _, calibration in rows for bin_ in calibration["bins"]]
    low = min(float(bin_["low"]) for bin_ in points)
    high = max(float(bin_["high"]) for bin_ in points)
    span = (high - low) or 1.0
    top, height = _PLOT_TOP, 180
    bottom = top + height

    def x(value: float) -> float:
        return _PLOT_LEFT + (value - low) / span * (_PLOT_RIGHT - _PLOT_LEFT)

    def y(rate: float) -> float:
        return bottom - rate * height

    parts = [
        f'<line class="axis" x1="{_PLOT_LEFT}" y1="{top}" x2="{_PLOT_LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{_PLOT_LEFT}" y1="{bottom}" x2="{_PLOT_RIGHT}" y2="{bottom}"/>',
    ]
    for rate in (0.0, 0.5, 1.0):
        parts.append(
            f'<text class="tick" x="{_PLOT_LEFT - 8}" y="{y(rate) + 4:.1f}" text-anchor="end">'
            f"{rate:g}</text>"
        )
    for value in (low, high):
        parts.append(
            f'<text class="tick" x="{x(value):.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{value:.2f}</text>"
        )
    target = float(rows[0][1]["target"])
    parts += [
        f'<line class="target" x1="{_PLOT_LEFT}" y1="{y(target):.1f}" x2="{_PLOT_RIGHT}" '
        f'y2="{y(target):.1f}"/>',
        f'<text class="target-label" x="{_PLOT_RIGHT - 4}" y="{y(target) - 5:.1f}" '
        f'text-anchor="end">target {target:g}</text>',
        f'<text class="axis-title" x="{(_PLOT_LEFT + _PLOT_RIGHT) / 2:.1f}" y="{bottom + 34}" '
        'text-anchor="middle">student confidence (mean token log-probability)</text>',
    ]
    legend_items = []
    for index, (label, calibration) in enumerate(rows):
        color = _PALETTE[index % len(_PALETTE)]
        legend_items.append((label, f'fill="{color}"'))
        centers = [
            (x((float(bin_["low"]) + float(bin_["high"])) / 2), y(float(bin_["agreement"])), bin_)
            for bin_ in calibration["bins"]
        ]
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _ in centers)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for cx, cy, bin_ in centers:
            tip = (
                f"{label}: confidence {bin_['low']:.3f} to {bin_['high']:.3f}, "
                f"{bin_['agreeing']}/{bin_['samples']} agree"
            )
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{color}">'
                f"<title>{_text(tip)}</title></circle>"
            )
    legend, legend_height = _legend(legend_items, bottom + 50)
    total = bottom + 50 + legend_height
    caption = "agreement with the teacher by student confidence"
    return "\n".join(
        [
            f'<svg class="calibration-plot" width="{_PLOT_WIDTH}" height="{total:.0f}" '
            f'viewBox="0 0 {_PLOT_WIDTH} {total:.0f}" role="img" aria-label="{_attr(caption)}">',
            *parts,
            *legend,
            "</svg>",
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
                f"<tr><td>{_text(bucket)}</td><td>{_text(name)}</td>"
                f"<td><code>{_text(_compact(value), _TEXT_LIMIT)}</code></td></tr>"
            )
    return "\n".join(
        [
            '<table class="fingerprint">',
            f"<caption>{_text(caption, _TEXT_LIMIT)}</caption>",
            "<thead><tr><th>bucket</th><th>field</th><th>value</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
        ]
    )


def _summary(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for index, entry in enumerate(entries, start=1):
        link = f'<a href="#test-{index}">{_text(entry["nodeid"])}</a>'
        outcome = _text(entry["outcome"])
        if not entry["verdicts"]:
            rows.append(
                f"<tr><td>{link}</td><td>{outcome}</td><td>no verdict</td>"
                "<td></td><td></td><td></td><td></td></tr>"
            )
        for verdict in entry["verdicts"]:
            decision = _text(verdict["decision"])
            rows.append(
                f"<tr><td>{link}</td><td>{outcome}</td>"
                f'<td><span class="decision decision-{_attr(verdict["decision"])}">{decision}'
                "</span></td>"
                f'<td class="num">{_signed(verdict["advantage"])}</td>'
                f'<td class="num">{_interval(verdict["lower"], verdict["upper"])}</td>'
                f'<td class="num">{verdict["queries"]}</td>'
                f'<td class="num">{verdict["seconds"]:.2f}</td></tr>'
            )
    return "\n".join(
        [
            '<table id="summary">',
            "<thead><tr><th>test</th><th>outcome</th><th>decision</th><th>advantage</th>"
            "<th>interval</th><th>queries</th><th>seconds</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
        ]
    )


def _section(index: int, entry: Mapping[str, Any]) -> str:
    verdicts = entry["verdicts"]
    parts = [
        f'<section class="test" id="test-{index}">',
        f"<h2>{_text(entry['nodeid'])}</h2>",
        f'<p class="meta">outcome: {_text(entry["outcome"])}</p>',
    ]
    if not verdicts:
        parts.append('<p class="note">This test recorded no verdict.</p>')
    for number, verdict in enumerate(verdicts, start=1):
        if len(verdicts) > 1:
            parts.append(f"<h3>Verdict {number} of {len(verdicts)}</h3>")
        parts += [_decision(verdict), _plot(verdict), _pairs(verdict), _calibration(verdict)]
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
    entries = _sorted_entries(report["tests"])
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
            f'<p class="meta">seed <code>{_text(report["seed"])}</code> · pytest-bbi '
            f"<code>{_text(report['plugin_version'])}</code> · {len(entries)} tests, "
            f"{verdicts} verdicts · replay with <code>--bbi-seed={_text(report['seed'])}</code>"
            "</p>",
            "<h2>Summary</h2>",
            _summary(entries),
            *(_section(index, entry) for index, entry in enumerate(entries, start=1)),
            "</body>",
            "</html>",
            "",
        ]
    )
