"""Exact binomial tests, Clopper–Pearson and Chernoff bounds, and the pairs needed to decide."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from scipy import optimize as _sps_optimize
from scipy import stats as _sps

from pytest_bbi.stats._checks import (
    check_alpha,
    check_counts,
    check_epsilon,
    check_probability,
)

Alternative = Literal["greater", "less"]
"""The side of a one-sided test: ``"greater"`` tests H0 "accuracy ≤ p0" (detect: the adversary is
better than allowed); ``"less"`` tests H0' "accuracy ≥ p0" (certify: it is within the allowance)."""

MAX_PAIRS_TO_DECIDE = 10**9
"""Beyond this many held-out pairs :func:`held_out_pairs_to_decide` gives up and returns None."""


def check_alternative(alternative: str) -> Alternative:
    """``alternative`` if it is ``"greater"`` or ``"less"``, else a ValueError."""
    if alternative == "greater":
        return "greater"
    if alternative == "less":
        return "less"
    raise ValueError(
        f"alternative must be 'greater' (H0: accuracy <= p0, detect) or 'less' "
        f"(H0': accuracy >= p0, certify), got {alternative!r}"
    )


# --------------------------------------------------------------------------------------------
# Accuracy ↔ advantage
# --------------------------------------------------------------------------------------------


def accuracy_threshold(epsilon: float) -> float:
    """Accuracy an adversary must exceed to have advantage above ε.

    Args:
        epsilon: The tolerated advantage ε, in [0, 1).

    Returns:
        The accuracy (1 + ε) / 2; H0 "advantage ≤ ε" is "accuracy ≤ this".

    Raises:
        ValueError: If ε is outside [0, 1).
    """
    return (1.0 + check_epsilon(epsilon)) / 2.0


def to_advantage(accuracy: float) -> float:
    """Convert an identification accuracy into a distinguishing advantage.

    Args:
        accuracy: The probability p of a correct identification, in [0, 1].

    Returns:
        The advantage 2p − 1, in [−1, 1].

    Raises:
        ValueError: If the accuracy is outside [0, 1].
    """
    return 2.0 * check_probability(accuracy, "accuracy") - 1.0


# --------------------------------------------------------------------------------------------
# Exact binomial test and Clopper–Pearson bounds
# --------------------------------------------------------------------------------------------


def binomial_p_value(k: int, n: int, p0: float, alternative: Alternative = "greater") -> float:
    """Exact one-sided binomial p-value.

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        p0: The accuracy under the null hypothesis, in [0, 1].
        alternative: ``"greater"`` (default) tests H0 "accuracy ≤ p0" against "accuracy > p0";
            ``"less"`` tests H0' "accuracy ≥ p0" against "accuracy < p0" (a certify cell:
            rejected exactly when :func:`clopper_pearson_upper` at the same level is below p0).

    Returns:
        P[X ≥ k] (``"greater"``) or P[X ≤ k] (``"less"``) for X ~ Binomial(n, p0); 1.0 when
        n == 0 (no evidence).

    Raises:
        ValueError: If the counts, p0 or the alternative are out of range.
    """
    k, n = check_counts(k, n)
    p0 = check_probability(p0, "p0")
    if check_alternative(alternative) == "less":
        if n == 0 or k == n:
            return 1.0
        return min(1.0, max(0.0, float(_sps.binom.cdf(k, n, p0))))
    if n == 0 or k == 0:
        return 1.0
    value = float(_sps.binom.sf(k - 1, n, p0))
    return min(1.0, max(0.0, value))


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided Clopper–Pearson lower confidence bound on the accuracy.

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        alpha: One minus the confidence level, in (0, 1).

    Returns:
        L with P[p ≥ L] ≥ 1 − alpha; 0.0 when k == 0 or n == 0.

    Raises:
        ValueError: If the counts or alpha are out of range.
    """
    k, n = check_counts(k, n)
    alpha = check_alpha(alpha)
    if k == 0:
        return 0.0
    return min(1.0, max(0.0, float(_sps.beta.ppf(alpha, k, n - k + 1))))


def clopper_pearson_upper(k: int, n: int, alpha: float) -> float:
    """One-sided Clopper–Pearson upper confidence bound on the accuracy.

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        alpha: One minus the confidence level, in (0, 1).

    Returns:
        U with P[p ≤ U] ≥ 1 − alpha; 1.0 when k == n (including n == 0).

    Raises:
        ValueError: If the counts or alpha are out of range.
    """
    k, n = check_counts(k, n)
    alpha = check_alpha(alpha)
    if k == n:
        return 1.0
    return min(1.0, max(0.0, float(_sps.beta.ppf(1.0 - alpha, k + 1, n - k))))


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Two-sided Clopper–Pearson interval on the accuracy, alpha / 2 in each tail.

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        alpha: One minus the confidence level, in (0, 1).

    Returns:
        ``(lower, upper)`` covering p with probability at least 1 − alpha.

    Raises:
        ValueError: If the counts or alpha are out of range.
    """
    alpha = check_alpha(alpha)
    return clopper_pearson_lower(k, n, alpha / 2.0), clopper_pearson_upper(k, n, alpha / 2.0)


# --------------------------------------------------------------------------------------------
# Chernoff (relative-entropy) bounds on the mean of independent [0, 1] variables
# --------------------------------------------------------------------------------------------


def _bernoulli_kl(p: float, q: float) -> float:
    """kl(p ‖ q) between Bernoulli distributions, for 0 ≤ p ≤ 1 and 0 < q < 1."""
    value = 0.0
    if p > 0.0:
        value += p * math.log(p / q)
    if p < 1.0:
        value += (1.0 - p) * math.log((1.0 - p) / (1.0 - q))
    return value


def mean_upper_bound(values: Sequence[float], alpha: float) -> float:
    """One-sided Chernoff–Hoeffding (relative-entropy) upper confidence bound on a mean in [0, 1].

    For independent Z₁…Zₙ in [0, 1] with means μ₁…μₙ (not necessarily equal) and μ̄ their
    average, convexity gives E[e^{λZᵢ}] ≤ 1 − μᵢ + μᵢe^λ, so the Bernoulli Chernoff bound holds:
    P[Z̄ ≤ z] ≤ exp(−n·kl(z ‖ μ̄)) for z ≤ μ̄. The bound is the largest μ with
    n·kl(Z̄ ‖ μ) ≤ ln(1/α); it is exact-rate for small means (about ln(1/α)/n when Z̄ = 0), where
    Hoeffding's additive √(ln(1/α)/2n) is loose.

    Args:
        values: the observations, each in [0, 1].
        alpha: One minus the confidence level, in (0, 1).

    Returns:
        U with P[μ̄ ≤ U] ≥ 1 − alpha; 1.0 without observations.

    Raises:
        ValueError: If alpha or a value is out of range.
    """
    alpha = check_alpha(alpha)
    observed = [check_probability(value, "every value") for value in values]
    n = len(observed)
    if n == 0:
        return 1.0
    mean = min(1.0, math.fsum(observed) / n)
    target = math.log(1.0 / alpha) / n
    top = 1.0 - 1e-15
    if mean >= top or _bernoulli_kl(mean, top) <= target:
        return 1.0
    low = max(mean, 1e-300)
    if _bernoulli_kl(mean, low) >= target:
        return low
    return float(_sps_optimize.brentq(lambda q: _bernoulli_kl(mean, q) - target, low, top))


def mean_lower_bound(values: Sequence[float], alpha: float) -> float:
    """One-sided Chernoff (relative-entropy) lower confidence bound on a mean in [0, 1].

    The mirror image of :func:`mean_upper_bound` (applied to 1 − Zᵢ): for independent Zᵢ in
    [0, 1] with average mean μ̄, P[μ̄ ≥ L] ≥ 1 − alpha. For 0/1 observations the exact
    :func:`clopper_pearson_lower` is tighter; this bound also holds for fractional values (e.g.
    the share of a prompt's repeated answers that agree).

    Args:
        values: the observations, each in [0, 1].
        alpha: One minus the confidence level, in (0, 1).

    Returns:
        The lower bound L; 0.0 without observations.

    Raises:
        ValueError: If alpha or a value is out of range.
    """
    mirrored = [1.0 - check_probability(value, "every value") for value in values]
    return max(0.0, 1.0 - mean_upper_bound(mirrored, alpha))


# --------------------------------------------------------------------------------------------
# How many more pairs?
# --------------------------------------------------------------------------------------------


def _round_up_to_grid(count: int) -> int:
    """Round up to three significant digits (identity below 1000), a fixed ~1% search grid."""
    if count < 1000:
        return count
    step: int = 10 ** (len(str(count)) - 3)
    return -(-count // step) * step


def _decisive(k: int, n: int, pairs: int, threshold: float, alpha: float) -> bool:
    """Whether ``pairs`` pairs at observed accuracy k / n put the one-sided CP bound past threshold.

    The scaled count k·pairs / n is rounded against the decision (down above the threshold, up
    below it), in exact integer arithmetic.
    """
    if k / n > threshold:
        return clopper_pearson_lower(k * pairs // n, pairs, alpha) > threshold
    return clopper_pearson_upper(-(-k * pairs // n), pairs, alpha) < threshold


def held_out_pairs_to_decide(k: int, n: int, epsilon: float, alpha: float) -> int | None:
    """Rough number of held-out pairs at which the current accuracy would become decisive.

    With p̂ = k / n and threshold t = (1 + ε) / 2, a normal approximation with the variance taken
    at the shrunken accuracy (k + 1) / (n + 2) (a continuity guard for k ∈ {0, n}) gives
    N₀ = z²₁₋α · p̃(1 − p̃) / (p̂ − t)². The answer is then the first N ≥ max(N₀, n + 1) on a fixed
    grid (every integer below 1000, three significant digits above) at which the one-sided
    level-alpha Clopper–Pearson bound at ⌊p̂N⌋ (p̂ > t, lower bound) or ⌈p̂N⌉ (p̂ < t, upper
    bound) successes excludes t. The answer is therefore consistent with the exact bound and
    non-increasing in the gap |p̂ − t|.

    Args:
        k: Correct identifications so far, 0 ≤ k ≤ n.
        n: Held-out pairs scored so far.
        epsilon: The tolerated advantage ε, in [0, 1).
        alpha: The one-sided level of the bound, in (0, 1) (already divided by the number of
            adversaries where a correction applies).

    Returns:
        ``n`` if the current pairs are already decisive; otherwise an estimate ≥ n + 1. None when
        n == 0 (no observed accuracy), when p̂ equals the threshold, or when the estimate exceeds
        :data:`MAX_PAIRS_TO_DECIDE`.

    Raises:
        ValueError: If the counts, ε or alpha are out of range.
    """
    k, n = check_counts(k, n)
    threshold = accuracy_threshold(epsilon)
    alpha = check_alpha(alpha)
    if n == 0:
        return None
    accuracy = k / n
    gap = abs(accuracy - threshold)
    if gap == 0.0:
        return None
    if _decisive(k, n, n, threshold, alpha):
        return n
    shrunk = (k + 1) / (n + 2)
    z = float(_sps.norm.isf(alpha))
    estimate = z * z * shrunk * (1.0 - shrunk) / (gap * gap)
    if not estimate <= MAX_PAIRS_TO_DECIDE:
        return None
    pairs = _round_up_to_grid(max(math.ceil(estimate), n + 1))
    while pairs <= MAX_PAIRS_TO_DECIDE:
        if _decisive(k, n, pairs, threshold, alpha):
            return pairs
        pairs = _round_up_to_grid(pairs + 1)
    return None
