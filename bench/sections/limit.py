"""Sections ``limit`` and ``encoder``: issue 16's long runs, read back from their own files.

Both take far longer than the rest of ``bench/run.py`` (``bench/limit.py`` generates thousands
of SmolLM2 completions; ``bench/encoder.py --side-by-side`` times whole encoder passes), so
``run.py`` never reruns them: it reads the committed results and dates them, and the section's
note names the command that regenerates them.
"""

from __future__ import annotations

import json
from pathlib import Path

from sections.common import HERE, MMD_RATIO_TARGET, Row, Section, Target, status
from sections.scripts import read_back, table_rows

LIMIT_MD = HERE / "LIMIT_RESULTS.md"
ENCODER_JSON = HERE / "encoder_side_by_side.json"
DEFAULT_CLASS = "default class (teacher local)"
ORACLE = "likelihood (oracle)"
PEER = "MMD Hamming (peer)"
ORACLE_RATIO_TARGET = 2.0
TEMPERATURE_QUERIES_TARGET = 1000
ENCODER_RATIO_TARGET = 0.6
ACCURACY_TOLERANCE = 0.01


def _needed(text: str) -> tuple[int, bool]:
    """'300' → (300, False); '> 1000' → (1000, True): no grid point reached power 0.8."""
    text = text.strip()
    return (int(text[1:].strip()), True) if text.startswith(">") else (int(text), False)


def _at_most(ours: str, theirs: str, ratio: float) -> str:
    """Whether ``ours`` ≤ ratio × ``theirs`` queries, or why the grid cannot say."""
    (n_ours, ours_over), (n_theirs, theirs_over) = _needed(ours), _needed(theirs)
    if ours_over and theirs_over:
        return "undecided (neither reaches 0.8 on the grid)"
    if ours_over:
        return "not met"
    if theirs_over:
        return "met" if n_ours <= ratio * n_theirs else "undecided (the other beyond the grid)"
    return status(n_ours <= ratio * n_theirs)


def read_limit(path: Path) -> tuple[list[Row], list[Target]]:
    """Queries for power 0.8 per distortion and method, read from ``bench/LIMIT_RESULTS.md``."""
    by_pair: dict[str, dict[str, list[str]]] = {}
    for pair, method, needed, power, seconds in table_rows(path, 5):
        by_pair.setdefault(pair, {})[method] = [needed, power, seconds]
    rows, targets = [], []
    for pair, methods in by_pair.items():
        if pair.startswith("A/A"):
            for method, (_, power, _) in methods.items():
                worst = max(float(cell.split(":")[1].split("±")[0]) for cell in power.split(","))
                rows.append(Row(f"limit, {pair}, {method}: false rejections", f"≤ {worst:.2f}"))
            continue
        for method, (needed, _, seconds) in methods.items():
            rows.append(
                Row(f"limit, {pair}, {method}: queries for power 0.8", needed, f"s/game {seconds}")
            )
        ours = methods.get(DEFAULT_CLASS)
        if ours is None:
            continue
        peer, oracle = methods.get(PEER), methods.get(ORACLE)
        if peer is not None and not _needed(peer[0])[1]:  # the MMD test reaches 0.8 on the grid
            targets.append(
                Target(
                    f"near the limit, {pair}: the default class needs ≤ ½ the MMD test's "
                    "queries for power 0.8",
                    "16",
                    f"{ours[0]} vs {peer[0]}",
                    _at_most(ours[0], peer[0], MMD_RATIO_TARGET),
                )
            )
        if oracle is not None:
            targets.append(
                Target(
                    f"near the limit, {pair}: the default class needs ≤ 2× the likelihood-ratio "
                    "oracle's queries",
                    "16",
                    f"{ours[0]} vs {oracle[0]}",
                    _at_most(ours[0], oracle[0], ORACLE_RATIO_TARGET),
                )
            )
        if "temperature" in pair:
            needed, over = _needed(ours[0])
            caught = not over and needed <= TEMPERATURE_QUERIES_TARGET
            targets.append(
                Target(
                    f"near the limit, {pair}: caught with power ≥ 0.8 within "
                    f"{TEMPERATURE_QUERIES_TARGET} queries by the black-box class",
                    "16",
                    ours[0],
                    status(caught),
                )
            )
    return rows, targets


def read_encoder(path: Path) -> tuple[list[Row], list[Target]]:
    """The default class's cold compute against one PyTorch MiniLM pass, per game."""
    report = json.loads(path.read_text(encoding="utf-8"))
    rows, targets = [], []
    for game in report["games"]:
        label = f"{game['game']}, q = {game['q']} ({game['texts']} texts)"
        ratios = ", ".join(f"{ratio:.2f}" for ratio in game["ratios"])
        drift = max(
            abs(value - game["today_accuracy"][name]) for name, value in game["accuracy"].items()
        )
        rows.append(
            Row(
                f"encoder, {label}: default class cold / one PyTorch MiniLM pass",
                f"{game['median_ratio']:.2f} (median of {ratios})",
                f"peak RSS {game['peak_rss_mib']:.0f} MiB; class encoder {game['class_encoder']}",
            )
        )
        targets.append(
            Target(
                f"default-class compute, cold, ≤ 0.6× one PyTorch MiniLM pass: {label}",
                "16",
                f"{game['median_ratio']:.3f}×",
                status(game["median_ratio"] <= ENCODER_RATIO_TARGET),
            )
        )
        targets.append(
            Target(
                f"each adversary's held-out accuracy within 0.01 of the PyTorch encoder's: {label}",
                "16",
                f"largest difference {drift:.3f}",
                status(drift <= ACCURACY_TOLERANCE),
            )
        )
    return rows, targets


NOTES = {
    "limit": "`bench/limit.py`: SmolLM2 against its distortions at realistic scale, every method "
    "on the same pooled samples (the pools, grid, replications and the reading are in `{file}`); "
    "regenerate with `flock /tmp/bbi-heavy.lock .venv/bin/python bench/limit.py` (hours on two "
    "cores).",
    "encoder": "`bench/encoder.py --side-by-side ROUNDS` (the committed command is in the "
    "file): in one process, the default class cold (its "
    "own encoder) and one pass of sentence-transformers' PyTorch MiniLM over the same texts, "
    "taking turns; the rounds, accuracies and memory are in `{file}`.",
}


def section_from_file(name: str) -> Section:
    """The ``limit`` or ``encoder`` section, read from its committed results file."""
    path, reader = (LIMIT_MD, read_limit) if name == "limit" else (ENCODER_JSON, read_encoder)
    return read_back(name, path, reader, NOTES[name], rerun=False)
