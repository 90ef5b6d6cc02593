"""Relation fingerprints at new seeds: false changes, power and the cost of refits.

Issue 15, must-show 6b, through the real game on scripted models (tests/relation_learners.py),
200 queries (100 held-out pairs), α = 0.05, one adversary, fixed seed lists:

* **false changes**: pairs of fingerprints of the same teacher and student at two seeds
  (seeds s and s + 1 for s = start, start + 2, …), compared by the current rule (the mean
  accuracy over the fit and its refits, version 3), by the version-2 rule (the single fit's
  count with the larger between-fit variance of the two sides) on the same games, and by the
  binomial test alone; for the two-valued learner (``few-examples``: 2 training pairs, tic rate
  0.6; the 200-pair unit test uses its first 200 pairs) and the continuous one
  (``word-weights``: 20 training pairs, tic rate 0.3);
* **power**: each pair's first fingerprint against a game of a student with half the tic rate
  (0.6 → 0.3, 0.3 → 0.15), the share flagged by each rule;
* **cost**: adversary fits per learned adversary and bucket, and the wall time of games of the
  built-in ``stylometric`` adversary with its refits against the same games with refits off
  (an adversary that declares ``learns = False`` is not refitted).

Run: .venv/bin/python bench/relation_refits.py [--pairs 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from relation_learners import (  # noqa: E402
    FewExamples,
    WordWeights,
    as_version_2,
    relation,
    tic_student,
)

from pytest_bbi.adversaries import resolve  # noqa: E402
from pytest_bbi.fingerprints import Fingerprint, compare  # noqa: E402
from pytest_bbi.fingerprints.compare import _two_proportions  # noqa: E402
from pytest_bbi.game.refits import REFITS  # noqa: E402

ALPHA = 0.05


def binomial_flags(old: Fingerprint, new: Fingerprint) -> bool:
    """Whether the binomial test alone flags the (only) advantage field."""
    [before] = old.statistics["all"].values()
    [after] = new.statistics["all"].values()
    counts = (before["correct"], before["total"], after["correct"], after["total"])
    return _two_proportions(*counts)[1] <= ALPHA


def rates(pairs: list[tuple[Fingerprint, Fingerprint]]) -> tuple[int, int, int]:
    """(flagged by the current rule, by the version-2 rule, by the binomial test alone)."""
    current = sum(not compare(old, new, alpha=ALPHA).equal for old, new in pairs)
    older = sum(
        not compare(as_version_2(old), as_version_2(new), alpha=ALPHA).equal for old, new in pairs
    )
    binomial = sum(binomial_flags(old, new) for old, new in pairs)
    return current, older, binomial


def share(count: int, total: int) -> str:
    """``count/total = rate``."""
    return f"{count}/{total} = {count / total:.3f}"


def learner_rows(name: str, adversary: object, rate: float, start: int, pairs: int) -> list[str]:
    """One learner's false-change and power rows."""
    student, changed = tic_student(rate), tic_student(rate / 2)
    same = [
        (
            relation(start + 2 * pair, adversary, student),
            relation(start + 2 * pair + 1, adversary, student),
        )
        for pair in range(pairs)
    ]
    moved = [
        (old, relation(start + 2 * pairs + pair, adversary, changed))
        for pair, (old, _) in enumerate(same)
    ]
    rows = []
    for what, measured in (
        (f"same models (tic {rate:g}), false changes", same),
        (f"tic {rate:g} → {rate / 2:g}, power", moved),
    ):
        current, older, binomial = rates(measured)
        total = len(measured)
        rows.append(
            f"| {name} | {what} | {share(current, total)} | {share(older, total)} "
            f"| {share(binomial, total)} |"
        )
    if start == 10_000 and pairs >= 200:
        current, older, _ = rates(same[:200])
        rows.append(
            f"| {name} | the unit test's 200 pairs, false changes | {share(current, 200)} "
            f"| {share(older, 200)} | |"
        )
    return rows


def cost_rows(seeds: int) -> list[str]:
    """Wall time of stylometric games with refits against the same games without."""

    class NotRefitted:
        """The stylometric adversary declared not to learn, so that it is not refitted."""

        learns = False

        def __init__(self) -> None:
            self.inner = resolve(["stylometric"])[0]
            self.name = self.inner.name

        def decide(self, train, trials, deadline):  # type: ignore[no-untyped-def]
            return self.inner.decide(train, trials, deadline)

    student = tic_student(0.3)
    timings = []
    for adversary in (resolve(["stylometric"])[0], NotRefitted()):
        started = time.perf_counter()
        for seed in range(seeds):
            relation(90_000 + seed, adversary, student)
        timings.append(time.perf_counter() - started)
    with_refits, without = timings
    return [
        f"| fits per learned adversary and bucket | {1 + REFITS} | {1 + REFITS} | 1 |",
        f"| stylometric games, {seeds} seeds (s) | {with_refits:.1f} | {with_refits:.1f} "
        f"| {without:.1f} |",
        f"| ratio to no refits | {with_refits / without:.2f}× | {with_refits / without:.2f}× "
        "| 1.00× |",
    ]


def main() -> None:
    """Run the measurements and print the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--cost-seeds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = learner_rows("few-examples (2 pairs)", FewExamples(), 0.6, 10_000, args.pairs)
    rows += learner_rows("word-weights (20 pairs)", WordWeights(), 0.3, 60_000, args.pairs)
    cost = cost_rows(args.cost_seeds)
    elapsed = time.perf_counter() - started
    lines = [
        "## Relation fingerprints at new seeds (α = 0.05, 100 held-out pairs)",
        "",
        f"Generated by `bench/relation_refits.py --pairs {args.pairs}` ({elapsed:.0f} s on "
        f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; the box is shared). Flagged seed pairs, one field each:",
        "",
        "| learner | seed pairs | mean over fits (v3) | one fit's count (v2) | binomial only |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows,
        "",
        "| cost | mean over fits (v3) | one fit's count (v2) | no refits |",
        "| --- | ---: | ---: | ---: |",
        *cost,
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
