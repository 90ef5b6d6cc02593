"""The decision rule: per-cell statistics, Holm (detect) or Bonferroni bounds (certify)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_bbi import stats
from pytest_bbi.game import Score
from pytest_bbi.verdict import AdversaryResult, Decision, Mode


@dataclass(frozen=True)
class Cell:
    """One hypothesis of the family: an adversary's score in one bucket, against that bucket's ε."""

    bucket: str
    adversary: str
    score: Score
    epsilon: float


def result_for(name: str, score: Score, *, bound_alpha: float, p_value: float) -> AdversaryResult:
    """Turn a count into an :class:`AdversaryResult` with one-sided bounds at ``bound_alpha``.

    Args:
        name: the adversary's name.
        score: its count.
        bound_alpha: the error level of each one-sided Clopper–Pearson bound.
        p_value: its p-value against its bucket's ε.

    Returns:
        The result, not yet marked rejected.
    """
    k, n = score.correct, score.total
    return AdversaryResult(
        name=name,
        correct=k,
        total=n,
        advantage=stats.to_advantage(k / n) if n else 0.0,
        lower=stats.to_advantage(stats.clopper_pearson_lower(k, n, bound_alpha)),
        upper=stats.to_advantage(stats.clopper_pearson_upper(k, n, bound_alpha)),
        p_value=p_value,
        seconds=score.seconds,
        timed_out=score.timed_out,
        examples=score.examples,
        details=dict(score.details),
    )


def decide(
    cells: Sequence[Cell], *, alpha: float, mode: Mode, train_fraction: float
) -> tuple[Decision, list[AdversaryResult], int | None]:
    """Decide the family of hypotheses H0: advantage ≤ ε, one per (bucket, adversary) cell.

    Bounds are one-sided Clopper–Pearson at α/m each (Bonferroni over the m cells), so the m
    upper bounds hold together with confidence 1 − α, and so do the m lower bounds. ``detect``
    rejects by exact binomial tests with Holm's correction, so it fails with probability ≤ α
    when every true advantage is within its ε. ``certify`` passes only when every upper bound is
    within its ε, and fails as distinguishable when some lower bound is above it. When every
    adversary ran out of time nothing was tested, and either mode is inconclusive.

    Returns:
        The decision, one result per cell (in order), and for an inconclusive certify run an
        estimate of the queries per bucket that would decide.
    """
    bound_alpha = alpha / len(cells)
    p_values = [
        stats.binomial_p_value(
            cell.score.correct, cell.score.total, stats.accuracy_threshold(cell.epsilon)
        )
        for cell in cells
    ]
    results = [
        result_for(cell.adversary, cell.score, bound_alpha=bound_alpha, p_value=p_value)
        for cell, p_value in zip(cells, p_values, strict=True)
    ]
    if mode == "detect":
        rejections = stats.holm(p_values, alpha)
    else:
        rejections = [
            r.total > 0 and r.lower > cell.epsilon for r, cell in zip(results, cells, strict=True)
        ]
    results = [
        replace(result, rejected=rejected)
        for result, rejected in zip(results, rejections, strict=True)
    ]
    if any(rejections):
        return "distinguishable", results, None
    if all(result.timed_out for result in results):
        return "inconclusive", results, None
    if mode == "detect":
        return "indistinguishable", results, None
    undecided = [(r, c) for r, c in zip(results, cells, strict=True) if r.upper > c.epsilon]
    if not undecided:
        return "certified", results, None
    pairs_needed = [
        stats.held_out_pairs_to_decide(r.correct, r.total, c.epsilon, bound_alpha)
        if r.total
        else None
        for r, c in undecided
    ]
    if any(pairs is None for pairs in pairs_needed):
        return "inconclusive", results, None
    most = max(pairs for pairs in pairs_needed if pairs is not None)
    return "inconclusive", results, math.ceil(most / (1 - train_fraction))
