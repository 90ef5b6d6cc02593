"""The evidence of one (bucket, adversary) cell: its two p-values, its bounds, its estimate.

A cell's held-out pairs are read one of three ways, by how the game was played:

- **fixed n** (one look): the count k of n is Binomial(n, accuracy); exact one-sided binomial
  tests and Clopper–Pearson bounds.
- **planned rounds** (several looks, stratified acquisition): the cumulative counts at the
  looks of the known round schedule; exact group-sequential designs (Lan–DeMets spending of the
  O'Brien–Fleming type on exact binomial boundaries), their p-values and repeated confidence
  bounds, valid at whatever look the game stopped, and a median-unbiased estimate (stage-wise
  ordering) instead of the biased k/n after an early stop.
- **importance-weighted pairs** (disagreement acquisition): W = Z·d(x)/π(x) per pair, whose
  conditional mean is the accuracy on the prompt list whatever the propensities; betting
  confidence bounds and their p-values (anytime-valid, tuned for the planned pairs), and the
  weighted mean as the estimate.

Everything is on the accuracy scale; :mod:`pytest_bbi.game.decision` applies the rules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_bbi import stats
from pytest_bbi.game.acquisition import WEIGHT_BOUND


@dataclass(frozen=True)
class Evidence:
    """What one cell's held-out pairs show about its accuracy.

    Attributes:
        detect_p: a valid p-value of H0 "accuracy ≤ p0" (the cell's advantage ≤ ε).
        certify_p: a valid p-value of H0' "accuracy ≥ p0" (the cell's advantage ≥ ε).
        lower: the lower confidence bound at the lower level.
        upper: the upper confidence bound at the upper level.
        estimate: the point estimate of the accuracy on the population.
    """

    detect_p: float
    certify_p: float
    lower: float
    upper: float
    estimate: float


NO_EVIDENCE = Evidence(detect_p=1.0, certify_p=1.0, lower=0.0, upper=1.0, estimate=0.5)
"""A cell with no scored pair (its adversary ran out of time before its first round)."""


def counts_at_looks(calls: Sequence[bool], rounds: Sequence[int]) -> tuple[int, ...]:
    """The cumulative correct counts at the end of each round played."""
    ends = list(itertools.accumulate(rounds))
    running = list(itertools.accumulate(int(call) for call in calls))
    return tuple(running[end - 1] if end else 0 for end in ends)


def _fixed_n(k: int, n: int, p0: float, lower_level: float, upper_level: float) -> Evidence:
    return Evidence(
        detect_p=stats.binomial_p_value(k, n, p0),
        certify_p=stats.binomial_p_value(k, n, p0, "less"),
        lower=stats.clopper_pearson_lower(k, n, lower_level),
        upper=stats.clopper_pearson_upper(k, n, upper_level),
        estimate=k / n,
    )


def _planned(
    looks: tuple[int, ...],
    counts: tuple[int, ...],
    p0: float,
    lower_level: float,
    upper_level: float,
    estimate: bool,
) -> Evidence:
    observed = counts[-1] / looks[len(counts) - 1]
    return Evidence(
        detect_p=stats.sequential_p_value(looks, counts, p0),
        certify_p=stats.sequential_p_value(looks, counts, p0, alternative="less"),
        lower=stats.sequential_lower_bound(looks, counts, lower_level),
        upper=stats.sequential_upper_bound(looks, counts, upper_level),
        estimate=stats.median_unbiased_accuracy(
            looks,
            counts,
            (
                stats.group_sequential_design(looks, p0, lower_level),
                stats.group_sequential_design(looks, p0, upper_level, alternative="less"),
            ),
        )
        if estimate
        else observed,
    )


def _weighted(
    values: list[float],
    planned: int,
    p0: float,
    lower_level: float,
    upper_level: float,
) -> Evidence:
    bound, horizon = WEIGHT_BOUND, planned
    return Evidence(
        detect_p=stats.betting_p_value(values, p0, alpha=lower_level, bound=bound, horizon=horizon),
        certify_p=stats.betting_p_value(
            values, p0, alternative="less", alpha=upper_level, bound=bound, horizon=horizon
        ),
        lower=min(
            1.0, stats.betting_lower_bound(values, lower_level, bound=bound, horizon=horizon)
        ),
        upper=min(
            1.0, stats.betting_upper_bound(values, upper_level, bound=bound, horizon=horizon)
        ),
        estimate=min(1.0, math.fsum(values) / len(values)),
    )


def rejects(
    calls: Sequence[bool],
    rounds: Sequence[int],
    weights: Sequence[float],
    looks: Sequence[int],
    p0: float,
    level: float,
    alternative: stats.Alternative,
) -> bool:
    """Whether the cell's test at ``level`` rejects now: H0 for ``"greater"``, H0' for ``"less"``.

    The same decision as comparing the cell's p-value of :func:`evidence` with ``level`` (the
    designs are nested), without the search for the p-value: a sequential game asks this after
    every round.
    """
    if not calls:
        return False
    if weights:
        values = [weight * call for weight, call in zip(weights, calls, strict=True)]
        p_value = stats.betting_p_value(
            values, p0, alternative=alternative, bound=WEIGHT_BOUND, alpha=level, horizon=looks[-1]
        )
        return p_value <= level
    if len(looks) == 1:
        k, n = sum(calls), len(calls)
        critical = stats.critical_count(n, p0, level, alternative)
        return k >= critical if alternative == "greater" else k <= critical
    design = stats.group_sequential_design(looks, p0, level, alternative=alternative)
    return design.rejects(counts_at_looks(calls, rounds))


def evidence(
    calls: Sequence[bool],
    rounds: Sequence[int],
    weights: Sequence[float],
    looks: Sequence[int],
    p0: float,
    *,
    lower_level: float,
    upper_level: float,
    estimate: bool = True,
) -> Evidence:
    """The evidence of one cell (see the module docstring for the three regimes).

    Args:
        calls: per held-out pair in order, whether the adversary named the teacher.
        rounds: the held-out pairs of each round it played (they must reach ``looks`` in turn).
        weights: per held-out pair, its importance weight d(x)/π(x), or empty for a
            stratified game.
        looks: the cell's planned cumulative held-out pairs per look.
        p0: the accuracy (1 + ε)/2 on the boundary of both null hypotheses.
        lower_level: the error level of the lower bound (the detect family's α/m).
        upper_level: the error level of the upper bound (the certify cell's α).
        estimate: whether to compute the bias-adjusted estimate of a sequential game (it costs
            a search); without it the estimate is k/n.

    Returns:
        The evidence; :data:`NO_EVIDENCE` without a scored pair.

    Raises:
        ValueError: when the rounds do not follow the planned looks.
    """
    if not calls:
        return NO_EVIDENCE
    if weights:
        values = [weight * call for weight, call in zip(weights, calls, strict=True)]
        return _weighted(values, looks[-1], p0, lower_level, upper_level)
    if len(looks) == 1:
        return _fixed_n(sum(calls), len(calls), p0, lower_level, upper_level)
    reached = tuple(itertools.accumulate(rounds))
    if reached != tuple(looks[: len(reached)]):
        raise ValueError(f"rounds reach {reached} held-out pairs, not the planned looks {looks}")
    counts = counts_at_looks(calls, rounds)
    return _planned(tuple(looks), counts, p0, lower_level, upper_level, estimate)
