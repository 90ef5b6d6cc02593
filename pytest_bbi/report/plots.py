"""The report's inline SVG plots: advantage by bucket × adversary, and student calibration."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_bbi.report.document import cell_word, estimated, interval, signed, verdict_cells
from pytest_bbi.report.escaping import escape_attr, escape_text

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
            f'<text x="{x + 16:.1f}" y="{y + 4:.1f}">{escape_text(label)}</text>',
        ]
        x += width
    parts.append("</g>")
    return parts, y - top + _LEGEND_ROW


def advantage_plot(verdict: Mapping[str, Any]) -> str:
    """An inline SVG of advantage by bucket × adversary, with intervals, ε and a legend."""
    buckets = list(verdict["buckets"].values())
    names = list(dict.fromkeys(result["name"] for _, result in verdict_cells(verdict)))
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
        f'transform="rotate(-90 16 {middle:.1f})">advantage (0 = a coin flip)</text>',
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
            f"{escape_text(bucket['name'], 40)}</text>"
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
    scored = [result for _, result in verdict_cells(verdict)]
    items = [(name, f'fill="{colors[name]}"') for name in names]
    if any(result["rejected"] for result in scored):
        items.append(("distinguishable", f'fill="#fff" {_REJECTED}'))
    if any(result["timed_out"] for result in scored):
        items.append(("timed out", 'fill="#fff" stroke="#333"'))
    title_y = bottom + (76 if rotate else 38)
    parts.append(
        f'<text class="axis-title" x="{(_PLOT_LEFT + _PLOT_RIGHT) / 2:.1f}" y="{title_y}" '
        'text-anchor="middle">capability bucket (one whisker per adversary)</text>'
    )
    legend_top = title_y + 22
    legend, legend_height = _legend(items, legend_top)
    height = legend_top + legend_height
    caption = f"advantage by capability and adversary, {verdict['mode']} mode"
    return "\n".join(
        [
            f'<svg class="advantage-plot" width="{_PLOT_WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {_PLOT_WIDTH} {height:.0f}" role="img" '
            f'aria-label="{escape_attr(caption)}">',
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
    top, low, point = _y(result["upper"]), _y(result["lower"]), _y(estimated(result))
    status = cell_word(result)
    classes = "cell timed-out" if result["timed_out"] else "cell"
    fill = "#fff" if result["timed_out"] else color
    outline, radius = (_REJECTED, 6.5) if result["rejected"] else (f'stroke="{color}"', 5.0)
    tip = (
        f"{bucket['name']} / {result['name']}: advantage {signed(estimated(result))} "
        f"{interval(result['lower'], result['upper'])}, "
        f"{result['correct']}/{result['total']} correct, {status}"
    )
    return [
        f'<g class="{classes}" data-bucket="{escape_attr(bucket["name"])}" '
        f'data-adversary="{escape_attr(result["name"])}">',
        f"<title>{escape_text(tip)}</title>",
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


def calibration_plot(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
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
        f'<text class="axis-title" x="16" y="{top + height / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + height / 2:.1f})">agreement with the teacher</text>',
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
                f"<title>{escape_text(tip)}</title></circle>"
            )
    legend, legend_height = _legend(legend_items, bottom + 50)
    total = bottom + 50 + legend_height
    caption = "agreement with the teacher by student confidence"
    return "\n".join(
        [
            f'<svg class="calibration-plot" width="{_PLOT_WIDTH}" height="{total:.0f}" '
            f'viewBox="0 0 {_PLOT_WIDTH} {total:.0f}" role="img" '
            f'aria-label="{escape_attr(caption)}">',
            *parts,
            *legend,
            "</svg>",
        ]
    )
