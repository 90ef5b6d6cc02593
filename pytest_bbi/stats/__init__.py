"""Binomial tests, Clopper–Pearson, Holm, anytime-valid confidence sequences and TV bounds."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import SupportsIndex

from scipy import optimize as _sps_optimize
from scipy import special as _special
from scipy import stats as _sps

__all__ = [
    "MAX_PAIRS_TO_DECIDE",
    "accuracy_threshold",
    "advantage_bound_from_tv",
    "anytime_p_value",
    "binomial_p_value",
    "clopper_pearson",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "confidence_sequence",
    "confidence_sequence_radius",
    "held_out_pairs_to_decide",
    "holm",
    "holm_adjusted",
    "mean_upper_bound",
    "pairs_to_decide_sequentially",
    "queries_bound_from_tv",
    "to_advantage",
    "tv_terms",
]

MAX_PAIRS_TO_DECIDE = 10**9
"""Beyond this many held-out pairs :func:`held_out_pairs_to_decide` gives up and returns None."""


# --------------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------------


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return alpha


def _check_epsilon(epsilon: float) -> float:
    epsilon = float(epsilon)
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must lie in [0, 1), got {epsilon!r}")
    return epsilon


def _check_probability(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


def _check_counts(k: SupportsIndex, n: SupportsIndex) -> tuple[int, int]:
    try:
        k_int, n_int = operator.index(k), operator.index(n)
    except TypeError as exc:
        raise ValueError(f"k and n must be integers, got k={k!r}, n={n!r}") from exc
    if n_int < 0:
        raise ValueError(f"n (the number of held-out pairs) must be >= 0, got {n_int}")
    if not 0 <= k_int <= n_int:
        raise ValueError(
            f"k (correct identifications) must satisfy 0 <= k <= n={n_int}, got {k_int}"
        )
    return k_int, n_int


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
    return (1.0 + _check_epsilon(epsilon)) / 2.0


def to_advantage(accuracy: float) -> float:
    """Convert an identification accuracy into a distinguishing advantage.

    Args:
        accuracy: The probability p of a correct identification, in [0, 1].

    Returns:
        The advantage 2p − 1, in [−1, 1].

    Raises:
        ValueError: If the accuracy is outside [0, 1].
    """
    return 2.0 * _check_probability(accuracy, "accuracy") - 1.0


# --------------------------------------------------------------------------------------------
# Exact binomial test and Clopper–Pearson bounds
# --------------------------------------------------------------------------------------------


def binomial_p_value(k: int, n: int, p0: float) -> float:
    """Exact one-sided binomial p-value of H0 "accuracy ≤ p0" against "accuracy > p0".

    Args:
        k: Correct identifications, 0 ≤ k ≤ n.
        n: Held-out pairs scored.
        p0: The accuracy under the null hypothesis, in [0, 1].

    Returns:
        P[X ≥ k] for X ~ Binomial(n, p0); 1.0 when n == 0 (no evidence).

    Raises:
        ValueError: If the counts or p0 are out of range.
    """
    k, n = _check_counts(k, n)
    p0 = _check_probability(p0, "p0")
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
    k, n = _check_counts(k, n)
    alpha = _check_alpha(alpha)
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
    k, n = _check_counts(k, n)
    alpha = _check_alpha(alpha)
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
    alpha = _check_alpha(alpha)
    return clopper_pearson_lower(k, n, alpha / 2.0), clopper_pearson_upper(k, n, alpha / 2.0)


# --------------------------------------------------------------------------------------------
# Holm's step-down correction
# --------------------------------------------------------------------------------------------


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
    values = [_check_probability(p, "every p-value") for p in p_values]
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
    alpha = _check_alpha(alpha)
    return [adjusted <= alpha for adjusted in holm_adjusted(p_values)]


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
    k, n = _check_counts(k, n)
    threshold = accuracy_threshold(epsilon)
    alpha = _check_alpha(alpha)
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


def _check_planned(planned_pairs: SupportsIndex) -> int:
    try:
        planned = operator.index(planned_pairs)
    except TypeError as exc:
        raise ValueError(f"planned_pairs must be an integer, got {planned_pairs!r}") from exc
    if planned < 1:
        raise ValueError(f"planned_pairs must be >= 1, got {planned}")
    return planned


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
    _check_counts(0, n)
    alpha = _check_alpha(alpha)
    rho = _mixture_precision(_check_planned(planned_pairs))
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
    k, n = _check_counts(k, n)
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
    k, n = _check_counts(k, n)
    p0 = _check_probability(p0, "p0")
    surplus = k - n * p0
    if n == 0 or surplus <= 0:
        return 1.0
    rho = _mixture_precision(_check_planned(planned_pairs))
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
    k, n = _check_counts(k, n)
    threshold = accuracy_threshold(epsilon)
    alpha = _check_alpha(alpha)
    if n == 0 or k / n == threshold:
        return None
    gap = abs(k / n - threshold)
    shape = _mixture_shape()
    estimate = shape * math.log(shape / (alpha * alpha)) / (4.0 * (shape - 1.0) * gap * gap)
    if not estimate <= MAX_PAIRS_TO_DECIDE:
        return None
    return max(math.ceil(estimate), n + 1)


# Total variation: the white-box certificate
# --------------------------------------------------------------------------------------------


def tv_terms(teacher_log_probs: Sequence[float], student_log_probs: Sequence[float]) -> list[float]:
    """Per-sample terms (1 − p_S(y)/p_T(y))₊ of the total variation, for y drawn from the teacher.

    For y ~ T(·|x) the term has mean E_{y~T}[(1 − p_S(y)/p_T(y))₊] = TV(T(·|x), S(·|x)), so the
    average of the terms over queries estimates the mean per-query total variation without
    importance weights. Each term lies in [0, 1].

    Args:
        teacher_log_probs: log p_T(y) of each teacher sample (finite: the teacher drew it).
        student_log_probs: log p_S(y) of the same samples (``-inf`` where S cannot produce y).

    Returns:
        One term in [0, 1] per sample.

    Raises:
        ValueError: On different lengths, a non-finite teacher log-probability or a NaN.
    """
    if len(teacher_log_probs) != len(student_log_probs):
        raise ValueError(
            f"got {len(teacher_log_probs)} teacher and {len(student_log_probs)} student "
            "log-probabilities; score the same samples under both models"
        )
    terms: list[float] = []
    for log_t, log_s in zip(teacher_log_probs, student_log_probs, strict=True):
        if not math.isfinite(log_t) or math.isnan(log_s):
            raise ValueError(
                f"a teacher sample has log p_T={log_t!r}, log p_S={log_s!r}: the teacher's own "
                "sample must have a finite log-probability and neither may be NaN"
            )
        terms.append(max(0.0, -math.expm1(min(log_s - log_t, 0.0))))
    return terms


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
    alpha = _check_alpha(alpha)
    observed = [_check_probability(value, "every value") for value in values]
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


def advantage_bound_from_tv(tv: float) -> float:
    """The most advantage any adversary can have in one pairwise game of total variation ``tv``.

    A pair shows one teacher and one student completion in random order, so it is a sample of
    T⊗S or of S⊗T; coupling each coordinate maximally gives TV(T⊗S, S⊗T) ≤ 1 − (1 − δ)², and
    the bound is attained (e.g. T uniform on {a, b}, S uniform on {b, c}). By concavity it also
    bounds the average advantage over prompts with mean total variation ``tv``.

    Args:
        tv: a (bound on the mean) per-query total variation δ, in [0, 1].

    Returns:
        1 − (1 − δ)², in [0, 1].

    Raises:
        ValueError: If ``tv`` is outside [0, 1].
    """
    tv = _check_probability(tv, "tv")
    return 1.0 - (1.0 - tv) ** 2


def queries_bound_from_tv(tv: float, queries: int) -> float:
    """The most advantage any adversary can have from q completions of one model: 1 − (1 − δ)^q.

    Telling T from S with q queries (fresh prompts from D) is telling T^q from S^q, and
    TV(T^q, S^q) ≤ 1 − (1 − δ)^q by the same coupling; with δ the mean per-query total variation,
    concavity gives the bound for random prompts.

    Args:
        tv: a (bound on the mean) per-query total variation δ, in [0, 1].
        queries: q, at least 0.

    Returns:
        1 − (1 − δ)^q, in [0, 1].

    Raises:
        ValueError: If ``tv`` is outside [0, 1] or ``queries`` is negative.
    """
    tv = _check_probability(tv, "tv")
    if queries < 0:
        raise ValueError(f"queries must be >= 0, got {queries!r}")
    return 1.0 - (1.0 - tv) ** queries
