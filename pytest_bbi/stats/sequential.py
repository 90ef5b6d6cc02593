"""Exact one-sided group-sequential designs for a binomial count on a known schedule of looks.

A cell (one adversary in one bucket) scores its held-out pairs in rounds; after round j it has
k_j correct of n_j, the n_j fixed in advance (the round schedule). Detect tests H0 "accuracy ≤
p0" and rejects at the first look where k_j reaches an upper boundary u_j; certify tests H0'
"accuracy ≥ p0" and rejects at the first look where k_j falls to a lower boundary l_j.

**Boundaries.** The level α is spent over the information fractions t_j = n_j / n_K by a
Lan–DeMets spending function (Lan & DeMets 1983, "Discrete sequential boundaries for clinical
trials", Biometrika 70(3)): O'Brien–Fleming type α(t) = 2 − 2Φ(z_{1−α/2}/√t), which spends
almost nothing early and keeps nearly the fixed-n critical value at the end, or Pocock type
α(t) = α·log(1 + (e − 1)t). The boundaries are exact for the binomial (Jennison & Turnbull
2000, "Group Sequential Methods with Applications to Clinical Trials", ch. 12): a dynamic
programme carries the distribution under p0 of the count at look j over the paths that have not
crossed yet (a convolution with Binomial(n_j − n_{j−1}, p0) per look), and u_j is the smallest
integer whose crossing probability at look j stays within the level spent between looks j − 1
and j, α(t_j) − α(t_{j−1}). Discreteness leaves part of each increment unspent, so the design's
exact level is at most α. Spending each increment on its own (instead of carrying unspent level
forward) makes the designs *nested*: for levels a < b, u_j(b) ≤ u_j(a) at every look, because
the spending increments grow with the level (for the O'Brien–Fleming type while the level is
below 2(1 − Φ(1)) ≈ 0.317) and a lower earlier boundary only removes paths. Nesting is what makes
:func:`sequential_p_value` valid at any stopping time.

**Validity for refitting adversaries.** If, given everything before it, each held-out pair is
correct with probability at most p0 (the accuracy may change between rounds as learned
adversaries refit, and may depend on what happened before), the probability of ever crossing is
at most its value when every pair has accuracy exactly p0: the probability of crossing from any
state is nondecreasing in the current count (a monotone coupling), so by backward induction each
conditional step is dominated by the step at p0. The design is therefore exact-conservative for
detect with refitting adversaries. Certify is the mirror image: its level holds when every
pair's accuracy is at least p0 whenever the claim is false, which the weak early fits of a
refitting adversary break, so a certificate should test a frozen adversary, the one it names.

**Futility** is non-binding: the efficacy boundaries ignore it, so stopping a cell early for
futility (say when :func:`conditional_power` is low, or when the opposite design crosses) can
only lower its chance of rejecting, and never inflates α.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, SupportsIndex

import numpy as np
from scipy import special as _special

from pytest_bbi.stats._checks import check_alpha, check_looks, check_path, check_probability
from pytest_bbi.stats.binomial import Alternative, check_alternative

Spending = Literal["obrien-fleming", "pocock"]
"""The shape of the alpha-spending function: O'Brien–Fleming type (the default) or Pocock type."""

NESTED_LEVEL_LIMIT = 0.3
"""Designs at levels up to this are nested (boundaries fall as the level rises), so
:func:`sequential_p_value` reports p-values up to this value and 1.0 above it."""

_SMALLEST_LEVEL = 1e-300
"""The smallest level :func:`sequential_p_value` searches; a smaller p-value is reported as this."""

_BISECTION_STEPS = 40
"""Bisection steps on an accuracy in [0, 1]: a resolution of 2⁻⁴⁰ ≈ 10⁻¹²."""


def check_spending(spending: str) -> Spending:
    """``spending`` if it names a spending function, else a ValueError."""
    if spending == "obrien-fleming":
        return "obrien-fleming"
    if spending == "pocock":
        return "pocock"
    raise ValueError(f"spending must be 'obrien-fleming' or 'pocock', got {spending!r}")


def alpha_spending(fraction: float, alpha: float, spending: Spending = "obrien-fleming") -> float:
    """The level spent by information fraction t: α(t), nondecreasing with α(0) = 0 and α(1) = α.

    Args:
        fraction: the information fraction t = n_j / n_K, in [0, 1].
        alpha: the design's one-sided level, in (0, 1).
        spending: ``"obrien-fleming"``: 2 − 2Φ(z_{1−α/2}/√t); ``"pocock"``: α·log(1 + (e − 1)t)
            (Lan & DeMets 1983).

    Returns:
        α(t), in [0, α].

    Raises:
        ValueError: If an argument is out of range.
    """
    t = check_probability(fraction, "fraction")
    return _spent(t, check_alpha(alpha), check_spending(spending))


def _spent(t: float, alpha: float, spending: Spending) -> float:
    """α(t) for validated arguments (ndtr/ndtri: fast, and accurate far into the tails)."""
    if t >= 1.0:
        return alpha
    if spending == "pocock":
        return alpha * math.log1p((math.e - 1.0) * t)
    if t == 0.0:
        return 0.0
    critical = -float(_special.ndtri(alpha / 2.0))
    return min(alpha, 2.0 * float(_special.ndtr(-critical / math.sqrt(t))))


@dataclass(frozen=True)
class GroupSequentialDesign:
    """An exact one-sided group-sequential test of one cell on a fixed schedule of looks.

    Attributes:
        looks: cumulative held-out pairs n_1 < … < n_K at the looks.
        p0: the accuracy on the boundary of the null hypothesis, (1 + ε)/2.
        alpha: the level spent over the looks.
        alternative: ``"greater"`` (detect: H0 "accuracy ≤ p0", rejected when k_j ≥ the
            boundary) or ``"less"`` (certify: H0' "accuracy ≥ p0", rejected when k_j ≤ it).
        spending: the spending function.
        boundaries: per look, the count that rejects: for ``"greater"`` k_j ≥ boundaries[j]
            (n_j + 1 where no count can reject); for ``"less"`` k_j ≤ boundaries[j] (−1 where
            none can).
        nominal: per look, α(t_j), the level the spending function allows by then.
        spent: per look, the exact probability under p0 of having crossed by then (≤ nominal).
    """

    looks: tuple[int, ...]
    p0: float
    alpha: float
    alternative: Alternative
    spending: Spending
    boundaries: tuple[int, ...]
    nominal: tuple[float, ...]
    spent: tuple[float, ...]

    def crossing_look(self, counts: Sequence[SupportsIndex]) -> int | None:
        """The first look (1-based) at which ``counts`` cross the boundary, or None.

        Args:
            counts: cumulative correct counts at looks 1..τ (τ ≤ K).

        Returns:
            The look, or None when the path has not crossed by look τ.

        Raises:
            ValueError: If the counts do not fit the looks.
        """
        path = check_path(self.looks, counts)
        for index, (count, boundary) in enumerate(zip(path, self.boundaries, strict=False)):
            if (count >= boundary) if self.alternative == "greater" else (count <= boundary):
                return index + 1
        return None

    def rejects(self, counts: Sequence[SupportsIndex]) -> bool:
        """Whether ``counts`` (at looks 1..τ) have crossed by look τ: the null is rejected."""
        return self.crossing_look(counts) is not None


# --------------------------------------------------------------------------------------------
# The dynamic programme
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _step(size: int, accuracy: float) -> np.ndarray:
    """The pmf of Binomial(size, accuracy) on 0..size, cached and read-only.

    Computed from log-gamma terms (about six times faster than ``scipy.stats.binom.pmf``, to
    within 10⁻¹² absolute), since the searches over the accuracy call it for fresh values.
    Callers only convolve it.
    """
    if accuracy <= 0.0 or accuracy >= 1.0:
        pmf = np.zeros(size + 1)
        pmf[0 if accuracy <= 0.0 else size] = 1.0
    else:
        k = np.arange(size + 1, dtype=float)
        log_pmf = (
            _special.gammaln(size + 1.0)
            - _special.gammaln(k + 1.0)
            - _special.gammaln(size - k + 1.0)
            + k * math.log(accuracy)
            + (size - k) * math.log1p(-accuracy)
        )
        pmf = np.exp(log_pmf)
    pmf.flags.writeable = False
    return pmf


def _nominal(looks: tuple[int, ...], alpha: float, spending: Spending) -> tuple[float, ...]:
    return tuple(_spent(n / looks[-1], alpha, spending) for n in looks)


def _upper_boundaries(
    looks: tuple[int, ...],
    null: float,
    nominal: Sequence[float],
    path: tuple[int, ...] | None = None,
) -> tuple[list[int], list[float], bool]:
    """Upper boundaries for successes of probability ``null``, spending ``nominal`` incrementally.

    With ``path`` (cumulative successes at the first τ looks) the programme stops at look τ or
    at the first look the path crosses, and reports whether it crossed.

    Returns:
        The boundaries and cumulative crossing probabilities computed, and whether ``path``
        crossed.
    """
    last = len(looks) if path is None else len(path)
    alive = np.ones(1)
    previous_n, previous_target, crossed = 0, 0.0, 0.0
    boundaries: list[int] = []
    spent: list[float] = []
    for index in range(last):
        n = looks[index]
        alive = np.convolve(alive, _step(n - previous_n, null))
        tail = np.cumsum(alive[::-1])[::-1]
        feasible = np.flatnonzero(tail <= nominal[index] - previous_target)
        boundary = int(feasible[0]) if feasible.size else n + 1
        if boundary <= n:
            crossed += float(tail[boundary])
            alive[boundary:] = 0.0
        boundaries.append(boundary)
        spent.append(crossed)
        if path is not None and path[index] >= boundary:
            return boundaries, spent, True
        previous_n, previous_target = n, nominal[index]
    return boundaries, spent, False


def _oriented(
    looks: tuple[int, ...], counts: tuple[int, ...], p0: float, alternative: Alternative
) -> tuple[float, tuple[int, ...]]:
    """The null success probability and path in the orientation where rejection is 'high'."""
    if alternative == "greater":
        return p0, counts
    return 1.0 - p0, tuple(n - k for n, k in zip(looks, counts, strict=False))


def _crossed(
    looks: tuple[int, ...],
    counts: tuple[int, ...],
    p0: float,
    alpha: float,
    alternative: Alternative,
    spending: Spending,
) -> bool:
    """Whether the level-``alpha`` design at null ``p0`` has been crossed by ``counts``."""
    null, path = _oriented(looks, counts, p0, alternative)
    return _upper_boundaries(looks, null, _nominal(looks, alpha, spending), path)[2]


@functools.lru_cache(maxsize=256)
def _design(
    looks: tuple[int, ...], p0: float, alpha: float, alternative: Alternative, spending: Spending
) -> GroupSequentialDesign:
    nominal = _nominal(looks, alpha, spending)
    null = p0 if alternative == "greater" else 1.0 - p0
    boundaries, spent, _ = _upper_boundaries(looks, null, nominal)
    if alternative == "less":
        boundaries = [n - b for n, b in zip(looks, boundaries, strict=True)]
    return GroupSequentialDesign(
        looks=looks,
        p0=p0,
        alpha=alpha,
        alternative=alternative,
        spending=spending,
        boundaries=tuple(boundaries),
        nominal=nominal,
        spent=tuple(spent),
    )


def group_sequential_design(
    looks: Sequence[SupportsIndex],
    p0: float,
    alpha: float,
    *,
    alternative: Alternative = "greater",
    spending: Spending = "obrien-fleming",
) -> GroupSequentialDesign:
    """The exact group-sequential design of one cell (see the module docstring).

    Args:
        looks: cumulative held-out pairs at each planned look, strictly increasing.
        p0: the accuracy (1 + ε)/2 on the boundary of the null hypothesis, in [0, 1].
        alpha: the one-sided level, in (0, 1).
        alternative: ``"greater"`` (detect) or ``"less"`` (certify).
        spending: ``"obrien-fleming"`` (default) or ``"pocock"``.

    Returns:
        The design; under any accuracy on the null side (changing between pairs as it may), the
        probability of ever crossing is at most ``design.spent[-1]`` ≤ alpha.

    Raises:
        ValueError: If an argument is out of range.
    """
    return _design(
        check_looks(looks),
        check_probability(p0, "p0"),
        check_alpha(alpha),
        check_alternative(alternative),
        check_spending(spending),
    )


# --------------------------------------------------------------------------------------------
# Inference at a stopping look
# --------------------------------------------------------------------------------------------


def sequential_p_value(
    looks: Sequence[SupportsIndex],
    counts: Sequence[SupportsIndex],
    p0: float,
    *,
    alternative: Alternative = "greater",
    spending: Spending = "obrien-fleming",
) -> float:
    """The smallest level whose design the counts have crossed by their last look: a p-value.

    p = inf{a : the level-a design at ``p0`` has been crossed by look τ = len(counts)}. Because
    the designs are nested, {p ≤ a} is the event that the level-a design crossed by look τ, which
    is contained in the event that it crosses by look K, of probability at most a under the null.
    So the p-value is valid at *any* stopping look τ, including one chosen by other cells' results
    or by a futility rule, and valid p-values of several cells can be combined by Holm's step-down
    (:func:`~pytest_bbi.stats.holm`) or the intersection–union test. ``p ≤ alpha`` exactly when
    ``group_sequential_design(looks, p0, alpha).rejects(counts)``, up to the bisection's relative
    resolution of 10⁻⁶ (the reported value is the upper end of the bracket: conservative).

    Args:
        looks: the design's cumulative held-out pairs per look.
        counts: cumulative correct counts at looks 1..τ.
        p0: the null accuracy, in [0, 1].
        alternative: ``"greater"`` (detect, H0 "accuracy ≤ p0") or ``"less"`` (certify).
        spending: the spending function.

    Returns:
        The p-value; 1.0 when not even the level-:data:`NESTED_LEVEL_LIMIT` design was crossed.

    Raises:
        ValueError: If an argument is out of range or the counts do not fit the looks.
    """
    schedule = check_looks(looks)
    path = check_path(schedule, counts)
    p0 = check_probability(p0, "p0")
    side = check_alternative(alternative)
    shape = check_spending(spending)

    def crossed(level: float) -> bool:
        return _crossed(schedule, path, p0, level, side, shape)

    if not crossed(NESTED_LEVEL_LIMIT):
        return 1.0
    if crossed(_SMALLEST_LEVEL):
        return _SMALLEST_LEVEL
    low, high = math.log(_SMALLEST_LEVEL), math.log(NESTED_LEVEL_LIMIT)
    while high - low > 1e-6:
        middle = (low + high) / 2.0
        if crossed(math.exp(middle)):
            high = middle
        else:
            low = middle
    return min(NESTED_LEVEL_LIMIT, math.exp(high))


def _bisect_accuracy(crossed: Callable[[float], bool], *, crossed_low: bool) -> float:
    """The accuracy where ``crossed`` switches, bisected on [0, 1] (``crossed`` at 0 if low)."""
    low, high = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if crossed(middle) == crossed_low:
            low = middle
        else:
            high = middle
    return low if crossed_low else high


def sequential_lower_bound(
    looks: Sequence[SupportsIndex],
    counts: Sequence[SupportsIndex],
    alpha: float,
    *,
    spending: Spending = "obrien-fleming",
) -> float:
    """Lower confidence bound on the accuracy, valid at any stopping look (a repeated bound).

    L = sup{p : the level-alpha ``"greater"`` design at null p has been crossed by look τ}, the
    inversion of the design's own test (a repeated confidence bound, Jennison & Turnbull 2000,
    ch. 9): for the true accuracy p the design at p crosses by look K with probability at most
    alpha, so P(L > p) ≤ alpha whatever decided the stopping look τ. It is consistent with the
    decision: L ≥ p0 exactly when ``group_sequential_design(looks, p0, alpha)`` rejects (up to
    the bisection's 10⁻¹² resolution). The search assumes the boundaries rise with the null
    accuracy, which holds on every schedule the tests scan.

    Args:
        looks: the cumulative held-out pairs per look.
        counts: cumulative correct counts at looks 1..τ.
        alpha: one minus the confidence level, in (0, 1).
        spending: the spending function.

    Returns:
        L in [0, 1]; 0.0 when not even the design at null 0 was crossed.

    Raises:
        ValueError: If an argument is out of range or the counts do not fit the looks.
    """
    schedule = check_looks(looks)
    path = check_path(schedule, counts)
    alpha = check_alpha(alpha)
    shape = check_spending(spending)

    def crossed(p: float) -> bool:
        return _crossed(schedule, path, p, alpha, "greater", shape)

    if not crossed(0.0):
        return 0.0
    return _bisect_accuracy(crossed, crossed_low=True)


def sequential_upper_bound(
    looks: Sequence[SupportsIndex],
    counts: Sequence[SupportsIndex],
    alpha: float,
    *,
    spending: Spending = "obrien-fleming",
) -> float:
    """Upper confidence bound on the accuracy, valid at any stopping look (a repeated bound).

    The mirror image of :func:`sequential_lower_bound` with ``"less"`` designs: U = inf{p : the
    level-alpha certify design at null p has been crossed by look τ}, P(U < p) ≤ alpha for the
    true accuracy p, and U ≤ p0 exactly when the certify design at p0 rejects. Each certify cell
    of an intersection–union test takes this bound at alpha itself, not alpha divided by the
    number of cells.

    Args:
        looks: the cumulative held-out pairs per look.
        counts: cumulative correct counts at looks 1..τ.
        alpha: one minus the confidence level, in (0, 1).
        spending: the spending function.

    Returns:
        U in [0, 1]; 1.0 when not even the design at null 1 was crossed.

    Raises:
        ValueError: If an argument is out of range or the counts do not fit the looks.
    """
    schedule = check_looks(looks)
    path = check_path(schedule, counts)
    alpha = check_alpha(alpha)
    shape = check_spending(spending)

    def crossed(p: float) -> bool:
        return _crossed(schedule, path, p, alpha, "less", shape)

    if not crossed(1.0):
        return 1.0
    return _bisect_accuracy(crossed, crossed_low=False)
