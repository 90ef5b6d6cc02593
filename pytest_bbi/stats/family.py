"""Families of cells: Holm's step-down for "distinguishable", intersection–union for "certified"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_bbi.stats._checks import check_alpha, check_probability


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in input order.

    The i-th smallest p-value p₍ᵢ₎ (1-based) among m becomes max over j ≤ i of
    min(1, (m − j + 1)·p₍ⱼ₎), so adjusted values are monotone in the raw ones and capped at 1.

    Args:
        p_values: Raw p-values, each in [0, 1].

    Returns:
        The adjusted p-values, aligned with ``p_values``.

    Raises:
        ValueError: If a p-value is outside [0, 1] (or NaN).
    """
    values = [check_probability(p, "every p-value") for p in p_values]
    m = len(values)
    order = sorted(range(m), key=values.__getitem__)
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down rejections at family-wise error rate alpha, in input order.

    Args:
        p_values: Raw p-values, each in [0, 1].
        alpha: The family-wise error rate, in (0, 1).

    Returns:
        ``True`` where the hypothesis is rejected; exactly ``holm_adjusted(p) <= alpha``.

    Raises:
        ValueError: If alpha or a p-value is out of range.
    """
    alpha = check_alpha(alpha)
    return [adjusted <= alpha for adjusted in holm_adjusted(p_values)]


@dataclass(frozen=True)
class FamilyDecision:
    """What a family of (bucket, adversary) cells shows, at error level α.

    Attributes:
        certified: every cell's H0' "advantage ≥ ε" was rejected at level α (an
            intersection–union test): the family is within ε with confidence 1 − α.
        within: per cell, whether its H0' was rejected at level α (its one-sided upper bound at
            level α, not α/m, is below its ε).
        distinguishable: per cell, whether its H0 "advantage ≤ ε" was rejected by Holm's
            step-down at family-wise error rate α.
    """

    certified: bool
    within: tuple[bool, ...]
    distinguishable: tuple[bool, ...]


def intersection_union(
    detect_p_values: Sequence[float], certify_p_values: Sequence[float], alpha: float
) -> FamilyDecision:
    """Decide a family of cells: certified by an intersection–union test, distinguishable by Holm.

    "Certified" claims that *every* cell's advantage is at most its ε: the union of the cells'
    H0' "advantage ≥ ε" is the null hypothesis, and it is rejected only when each H0' is rejected
    at level α (Berger 1982, "Multiparameter hypothesis testing and acceptance sampling",
    Technometrics 24(4)). If some cell has advantage ≥ ε, a false certificate needs that cell's
    own level-α test to reject, so P(false certificate) ≤ α with no division by the number of
    cells m, whatever the dependence between cells. "Distinguishable" claims that *some* cell
    exceeds ε, so it needs a family-wise correction: Holm's step-down over the cells' H0
    p-values keeps the chance of any false claim at most α.

    The p-values may come from fixed-n tests (:func:`~pytest_bbi.stats.binomial_p_value` with
    either alternative), from group-sequential designs
    (:func:`~pytest_bbi.stats.sequential_p_value`, valid at whatever look the game stopped) or
    from betting confidence sequences (:func:`~pytest_bbi.stats.betting_p_value`).

    Args:
        detect_p_values: per cell, a valid p-value of H0 "advantage ≤ ε".
        certify_p_values: per cell, a valid p-value of H0' "advantage ≥ ε", aligned.
        alpha: the error level, in (0, 1).

    Returns:
        The family's decision; ``certified`` is False for an empty family.

    Raises:
        ValueError: If alpha or a p-value is out of range, or the lists differ in length.
    """
    alpha = check_alpha(alpha)
    if len(detect_p_values) != len(certify_p_values):
        raise ValueError(
            f"got {len(detect_p_values)} detect and {len(certify_p_values)} certify p-values; "
            "give one of each per cell"
        )
    within = tuple(check_probability(p, "every p-value") <= alpha for p in certify_p_values)
    distinguishable = tuple(holm(detect_p_values, alpha))
    return FamilyDecision(
        certified=bool(within) and all(within),
        within=within,
        distinguishable=distinguishable,
    )
