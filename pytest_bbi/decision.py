"""The decision rule: fixed-n Holm / Bonferroni bounds, or anytime-valid sequences per round."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_bbi import stats
from pytest_bbi.game import Score
from pytest_bbi.verdict import AdversaryResult, Decision, Mode


@dataclass(frozen=True)
class Cell:
    """One hypothesis of the family: an adversary's score in one bucket, against that bucket's ε.

    ``planned_pairs`` is the number of held-out pairs the bucket would score if its whole budget
    were spent; sequential bounds are tuned for it.
    """

    bucket: str
    adversary: str
    score: Score
    epsilon: float
    planned_pairs: int


def result_for(
    name: str,
    score: Score,
    *,
    epsilon: float,
    bound_alpha: float,
    sequential: bool,
    planned_pairs: int,
) -> AdversaryResult:
    """Turn a count into an :class:`AdversaryResult` with bounds at ``bound_alpha``.

    Fixed-n: one-sided Clopper–Pearson bounds, each at ``bound_alpha``, and the exact binomial
    p-value. Sequential: the two-sided anytime-valid confidence sequence at ``bound_alpha``
    (tuned for ``planned_pairs``) and its anytime-valid p-value, both valid at whatever round
    the game stopped.

    Args:
        name: the adversary's name.
        score: its count.
        epsilon: its bucket's ε, the null hypothesis of the p-value.
        bound_alpha: the error level of the bounds.
        sequential: whether the game was played in rounds with early stopping.
        planned_pairs: the held-out pairs of the whole budget, for the sequential tuning.

    Returns:
        The result, not yet marked rejected.
    """
    k, n = score.correct, score.total
    threshold = stats.accuracy_threshold(epsilon)
    if sequential:
        lower, upper = stats.confidence_sequence(k, n, bound_alpha, planned_pairs)
        p_value = stats.anytime_p_value(k, n, threshold, planned_pairs)
    else:
        lower = stats.clopper_pearson_lower(k, n, bound_alpha)
        upper = stats.clopper_pearson_upper(k, n, bound_alpha)
        p_value = stats.binomial_p_value(k, n, threshold)
    return AdversaryResult(
        name=name,
        correct=k,
        total=n,
        advantage=stats.to_advantage(k / n) if n else 0.0,
        lower=stats.to_advantage(lower),
        upper=stats.to_advantage(upper),
        p_value=p_value,
        seconds=score.seconds,
        timed_out=score.timed_out,
        examples=score.examples,
        details=dict(score.details),
    )


def is_settled(cells: Sequence[tuple[Cell, AdversaryResult]]) -> bool:
    """Whether more pairs cannot change a sequential game's outcome for these cells.

    Every upper bound is within its ε (or the adversary ran out of time): certify can pass them,
    and while the confidence sequences hold no lower bound will ever pass ε, so detect has
    nothing left to find.

    Args:
        cells: (cell, result from :func:`decide`) pairs, e.g. those of one bucket.

    Returns:
        True when every cell is timed out or has its upper bound at most its ε.
    """
    return all(result.timed_out or result.upper <= cell.epsilon for cell, result in cells)


def decide(
    cells: Sequence[Cell], *, alpha: float, mode: Mode, train_fraction: float, sequential: bool
) -> tuple[Decision, list[AdversaryResult], int | None]:
    """Decide the family of hypotheses H0: advantage ≤ ε, one per (bucket, adversary) cell.

    Bounds are taken at α/m each (Bonferroni over the m cells). Fixed-n: one-sided
    Clopper–Pearson bounds, so the m upper bounds hold together with confidence 1 − α, and so do
    the m lower bounds; ``detect`` rejects by exact binomial tests with Holm's correction, so it
    fails with probability ≤ α when every true advantage is within its ε. Sequential: two-sided
    anytime-valid confidence sequences, which hold together at every round with confidence
    1 − α, so stopping as soon as they are decisive keeps that guarantee; both modes reject where
    a lower bound is above ε (the anytime counterpart of Bonferroni; Holm needs all p-values at
    one fixed time). ``certify`` passes only when every upper bound is within its ε, and fails as
    distinguishable when some lower bound is above it. When every adversary ran out of time
    nothing was tested, and either mode is inconclusive.

    Returns:
        The decision, one result per cell (in order), and for an inconclusive certify run an
        estimate of the queries per bucket that would decide.
    """
    bound_alpha = alpha / len(cells)
    results = [
        result_for(
            cell.adversary,
            cell.score,
            epsilon=cell.epsilon,
            bound_alpha=bound_alpha,
            sequential=sequential,
            planned_pairs=cell.planned_pairs,
        )
        for cell in cells
    ]
    if mode == "detect" and not sequential:
        rejections = stats.holm([result.p_value for result in results], alpha)
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
    to_decide = stats.pairs_to_decide_sequentially if sequential else stats.held_out_pairs_to_decide
    pairs_needed = [
        to_decide(r.correct, r.total, c.epsilon, bound_alpha) if r.total else None
        for r, c in undecided
    ]
    if any(pairs is None for pairs in pairs_needed):
        return "inconclusive", results, None
    most = max(pairs for pairs in pairs_needed if pairs is not None)
    return "inconclusive", results, math.ceil(most / (1 - train_fraction))
