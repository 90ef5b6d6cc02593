"""Robbins' normal-mixture confidence sequence for the accuracy: anytime-valid, two-sided."""

from __future__ import annotations

import math

from scipy import special as _special

from pytest_bbi.stats._checks import (
    check_alpha,
    check_counts,
    check_positive_int,
    check_probability,
)
from pytest_bbi.stats.binomial import MAX_PAIRS_TO_DECIDE, accuracy_threshold

# --------------------------------------------------------------------------------------------
# Anytime-valid confidence sequences (Robbins' normal mixture)
# --------------------------------------------------------------------------------------------
#
# Each held-out pair gives X_i ∈ {0, 1} (a correct identification) with conditional mean p_i
# given everything before it: p_i may change between rounds, because learned adversaries are
# refitted on a growing training set and acquisition may move to other prompts. By Hoeffding's
# lemma exp(λ·Σ(X_i − p_i) − λ²·n/8) is a nonnegative supermartingale for every real λ; mixing λ
# over N(0, 1/ρ) gives (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform,
# nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2), eq. (14))
#
#     M_n = sqrt(ρ / (V_n + ρ)) · exp(S_n² / (2 (V_n + ρ))),   S_n = Σ(X_i − p_i),  V_n = n / 4,
#
# and Ville's inequality P(∃n: M_n ≥ 1/α) ≤ α yields the two-sided boundary
# |S_n| < sqrt((V_n + ρ) · log((V_n + ρ) / (ρ α²))) for all n at once. Divided by n it bounds
# the running average of the p_i, which is the accuracy when it does not change. It is chosen
# over a beta-binomial mixture because it stays valid when p_i drifts between rounds (the
# beta-binomial likelihood ratio needs one fixed p), it has a closed form, and near accuracy ½
# (where the decisions are hard) Hoeffding's variance proxy ¼ is exact, so little is lost.
# ρ tunes where the boundary is tightest; it is set for the planned number of pairs.


_TUNING_ALPHA = 0.05
"""The level the mixture precision ρ is tuned at. Tuning at the level actually used changes the
boundary by under 1% for levels down to 10⁻⁴, and one ρ per planned size keeps the confidence
sequence and :func:`anytime_p_value` exactly consistent."""


def _mixture_shape() -> float:
    """The x > 1 with x − log x = 1 + 2·log(1/α₀), α₀ = :data:`_TUNING_ALPHA`.

    For a fixed V, the boundary is smallest over ρ where (V + ρ)/ρ = x, the root above 1 of
    log(x/α₀²) + 1 − x = 0, that is −W₋₁(−α₀² / e) (Lambert's W on its lower branch).
    """
    return float(-_special.lambertw(-(_TUNING_ALPHA**2) / math.e, k=-1).real)


def _mixture_precision(planned_pairs: int) -> float:
    """The mixture precision ρ that makes the boundary tightest after ``planned_pairs`` pairs."""
    return (planned_pairs / 4.0) / (_mixture_shape() - 1.0)


def confidence_sequence_radius(n: int, alpha: float, planned_pairs: int) -> float:
    """Half-width, on the accuracy scale, of the normal-mixture confidence sequence after n pairs.

    Args:
        n: Held-out pairs scored so far (≥ 0).
        alpha: The error level of the whole sequence, in (0, 1): the probability that the
            interval ever misses, at any n, is at most alpha.
        planned_pairs: The number of pairs the boundary is tuned for (≥ 1): it is tightest there
            and valid at every n.

    Returns:
        sqrt((n/4 + ρ)·log((n/4 + ρ)/(ρ·α²))) / n, or ``math.inf`` when n == 0.

    Raises:
        ValueError: If an argument is out of range.
    """
    check_counts(0, n)
    alpha = check_alpha(alpha)
    rho = _mixture_precision(check_positive_int(planned_pairs, "planned_pairs"))
    if n == 0:
        return math.inf
    variance = n / 4.0 + rho
    return math.sqrt(variance * math.log(variance / (rho * alpha * alpha))) / n


def confidence_sequence(k: int, n: int, alpha: float, planned_pairs: int) -> tuple[float, float]:
    """Anytime-valid two-sided bounds on the accuracy after k correct out of n.

    With probability at least 1 − alpha the interval contains the average accuracy of the pairs
    scored so far at *every* n simultaneously, so it may be checked after each round and the game
    stopped whenever it is decisive (an optional-stopping-safe replacement for
    :func:`clopper_pearson`). See the section comment for the construction.

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        alpha: The error level of the whole sequence, in (0, 1).
        planned_pairs: The number of pairs the boundary is tuned for (≥ 1).

    Returns:
        ``(lower, upper)`` = k/n ∓ :func:`confidence_sequence_radius`, clipped to [0, 1];
        ``(0.0, 1.0)`` when n == 0.

    Raises:
        ValueError: If the counts or alpha are out of range.
    """
    k, n = check_counts(k, n)
    radius = confidence_sequence_radius(n, alpha, planned_pairs)
    if n == 0:
        return 0.0, 1.0
    return max(0.0, k / n - radius), min(1.0, k / n + radius)


def anytime_p_value(k: int, n: int, p0: float, planned_pairs: int) -> float:
    """Anytime-valid p-value of H0 "accuracy ≤ p0" from the normal-mixture martingale.

    It is 1 / M_n evaluated at p0 when k/n > p0 (and 1 otherwise). Under H0 (every pair's
    accuracy at most p0), P(∃n: p-value ≤ a) ≤ a, so it is valid at any data-dependent stopping
    time. The lower end of :func:`confidence_sequence` at level a exceeds p0 exactly when this
    p-value is below a (up to ties at the boundary).

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        p0: The accuracy under the null hypothesis, in [0, 1].
        planned_pairs: The number of pairs the martingale is tuned for (≥ 1), the same as for the
            confidence sequence it accompanies.

    Returns:
        The p-value, in [0, 1] (0 only by floating-point underflow); 1.0 when n == 0 or
        k/n ≤ p0.

    Raises:
        ValueError: If an argument is out of range.
    """
    k, n = check_counts(k, n)
    p0 = check_probability(p0, "p0")
    surplus = k - n * p0
    if n == 0 or surplus <= 0:
        return 1.0
    rho = _mixture_precision(check_positive_int(planned_pairs, "planned_pairs"))
    variance = n / 4.0 + rho
    log_martingale = 0.5 * math.log(rho / variance) + surplus * surplus / (2.0 * variance)
    return min(1.0, math.exp(-log_martingale))


def pairs_to_decide_sequentially(k: int, n: int, epsilon: float, alpha: float) -> int | None:
    """Rough number of held-out pairs at which the confidence sequence would settle the question.

    The counterpart of :func:`held_out_pairs_to_decide` for sequential mode: the smallest N at
    which the radius of a confidence sequence tuned for N pairs, sqrt(x·log(x/α²) / (4(x − 1)N))
    with x = (V + ρ)/ρ from the tuning, falls below the gap |k/n − (1 + ε)/2|.

    Args:
        k: Correct identifications so far, 0 ≤ k ≤ n.
        n: Held-out pairs scored so far.
        epsilon: The tolerated advantage ε, in [0, 1).
        alpha: The error level of the sequence (already divided by the number of cells).

    Returns:
        An estimate ≥ n + 1, or None when n == 0, when k/n equals the threshold, or when the
        estimate exceeds :data:`MAX_PAIRS_TO_DECIDE`.

    Raises:
        ValueError: If the counts, ε or alpha are out of range.
    """
    k, n = check_counts(k, n)
    threshold = accuracy_threshold(epsilon)
    alpha = check_alpha(alpha)
    if n == 0 or k / n == threshold:
        return None
    gap = abs(k / n - threshold)
    shape = _mixture_shape()
    estimate = shape * math.log(shape / (alpha * alpha)) / (4.0 * (shape - 1.0) * gap * gap)
    if not estimate <= MAX_PAIRS_TO_DECIDE:
        return None
    return max(math.ceil(estimate), n + 1)
