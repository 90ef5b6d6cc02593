"""Power: the smallest advantage a run would detect, and the queries a planned run needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, SupportsIndex

import numpy as np
from scipy import stats as _sps

from pytest_bbi.stats._checks import (
    check_alpha,
    check_epsilon,
    check_looks,
    check_positive_int,
    check_probability,
)
from pytest_bbi.stats.binomial import Alternative, accuracy_threshold, check_alternative
from pytest_bbi.stats.sequential import Spending, group_sequential_design
from pytest_bbi.stats.stagewise import operating_characteristics

Mode = Literal["detect", "certify"]

MAX_PLANNED_QUERIES = 10**7
""":func:`queries_needed` gives up beyond this many queries per bucket and returns None."""

MAX_SEQUENTIAL_QUERIES = 10**5
"""The same limit for group-sequential games, whose exact power costs a dynamic programme."""

_BISECTION_STEPS = 40


def _critical_greater(n: np.ndarray, p0: float, level: float) -> np.ndarray:
    """Per n, the smallest c with P(Binomial(n, p0) ≥ c) ≤ level (n + 1 where none)."""
    counts = np.asarray(n, dtype=np.int64)
    estimate = np.asarray(_sps.binom.isf(level, counts, p0), dtype=float) + 1.0
    critical: np.ndarray = np.clip(estimate, 1, counts + 1).astype(np.int64)
    while True:  # guard against rounding in isf: move until exactly the smallest such c
        too_low = (critical <= counts) & (_sps.binom.sf(critical - 1, counts, p0) > level)
        too_high = (critical >= 2) & (_sps.binom.sf(critical - 2, counts, p0) <= level)
        if not (too_low.any() or too_high.any()):
            return critical
        critical = critical + too_low - too_high


def critical_count(n: int, p0: float, alpha: float, alternative: Alternative = "greater") -> int:
    """The count at which the exact one-sided fixed-n binomial test rejects.

    Args:
        n: held-out pairs, ≥ 1.
        p0: the null accuracy, in [0, 1].
        alpha: the level, in (0, 1).
        alternative: ``"greater"``: the smallest c with P(X ≥ c) ≤ alpha (reject when k ≥ c;
            n + 1 when no count can); ``"less"``: the largest c with P(X ≤ c) ≤ alpha (reject
            when k ≤ c; −1 when none can), X ~ Binomial(n, p0).

    Returns:
        The critical count.

    Raises:
        ValueError: If an argument is out of range.
    """
    pairs = check_positive_int(n, "n")
    p0 = check_probability(p0, "p0")
    alpha = check_alpha(alpha)
    if check_alternative(alternative) == "greater":
        return int(_critical_greater(np.array([pairs]), p0, alpha)[0])
    return pairs - int(_critical_greater(np.array([pairs]), 1.0 - p0, alpha)[0])


def _fixed_n_power(
    n: np.ndarray, accuracy: float, p0: float, level: float, side: Alternative
) -> np.ndarray:
    if side == "greater":
        critical = _critical_greater(n, p0, level)
        return np.asarray(_sps.binom.sf(critical - 1, n, accuracy), dtype=float)
    critical = _critical_greater(n, 1.0 - p0, level)
    return np.asarray(_sps.binom.sf(critical - 1, n, 1.0 - accuracy), dtype=float)


def fixed_n_power(
    n: int, accuracy: float, p0: float, alpha: float, alternative: Alternative = "greater"
) -> float:
    """The exact power of the one-sided fixed-n binomial test at a true accuracy.

    Args:
        n: held-out pairs, ≥ 1.
        accuracy: the true accuracy, in [0, 1].
        p0: the null accuracy, in [0, 1].
        alpha: the level, in (0, 1).
        alternative: ``"greater"`` (detect) or ``"less"`` (certify).

    Returns:
        P(the test rejects).

    Raises:
        ValueError: If an argument is out of range.
    """
    return float(
        _fixed_n_power(
            np.array([check_positive_int(n, "n")]),
            check_probability(accuracy, "accuracy"),
            check_probability(p0, "p0"),
            check_alpha(alpha),
            check_alternative(alternative),
        )[0]
    )


def detectable_advantage(
    looks: SupportsIndex | Sequence[SupportsIndex],
    *,
    epsilon: float,
    alpha: float,
    cells: int = 1,
    power: float = 0.8,
    spending: Spending = "obrien-fleming",
) -> float | None:
    """The smallest true advantage this run would detect with the given power.

    Detect rejects a cell's H0 "advantage ≤ ε" by Holm's step-down over the m cells; the cell
    that carries the advantage is rejected at the first step whenever its own test at α/m
    rejects, so the power computed at α/m is a lower bound on the run's power (exact for one
    cell). A pass whose ``detectable`` is large says the run could not have seen a difference
    that large, not that none exists.

    Args:
        looks: the held-out pairs per cell, an int for a fixed-n game, or the cumulative
            held-out pairs at each look of a group-sequential game (its exact power by dynamic
            programming).
        epsilon: the tolerated advantage ε, in [0, 1).
        alpha: the run's family-wise level, in (0, 1).
        cells: m, the number of (bucket, adversary) cells, ≥ 1.
        power: the power asked for, in (0, 1), 0.8 by default.
        spending: the spending function of a group-sequential game.

    Returns:
        The advantage δ ∈ [ε, 1] at which the cell's test reaches ``power`` (within 10⁻¹² for a
        sequential game, rounded up), or None when even advantage 1 would not be detected (too
        few pairs for the level).

    Raises:
        ValueError: If an argument is out of range.
    """
    p0 = accuracy_threshold(epsilon)
    level = check_alpha(alpha) / check_positive_int(cells, "cells")
    target = check_alpha(power, "power")
    if isinstance(looks, Sequence):
        design = group_sequential_design(looks, p0, level, spending=spending)
        if operating_characteristics(design, 1.0).power < target:
            return None
        low, high = p0, 1.0
        for _ in range(_BISECTION_STEPS):
            middle = (low + high) / 2.0
            if operating_characteristics(design, middle).power >= target:
                high = middle
            else:
                low = middle
        return 2.0 * high - 1.0
    n = check_positive_int(looks, "looks")
    critical = int(_critical_greater(np.array([n]), p0, level)[0])
    if critical > n:
        return None
    accuracy = float(_sps.beta.ppf(target, critical, n - critical + 1))
    return max(2.0 * p0 - 1.0, 2.0 * accuracy - 1.0)


def pairs_to_certify(
    epsilon: float, alpha: float, *, power: float = 0.8, accuracy: float = 0.5
) -> int | None:
    """The fewest held-out pairs at which one certify cell passes with the given probability.

    The cell's exact fixed-n test of H0' "accuracy ≥ (1 + ε)/2" at level alpha (an
    intersection–union cell: alpha itself, not alpha/m) rejects with probability at least
    ``power`` when the true accuracy is ``accuracy`` (½: an identical pair). Because of the
    binomial's discreteness the power is not monotone in n; this is the smallest n that reaches it.

    Args:
        epsilon: the tolerated advantage ε, in (0, 1).
        alpha: the cell's level, in (0, 1).
        power: the probability of certifying asked for, in (0, 1).
        accuracy: the true accuracy, below (1 + ε)/2.

    Returns:
        The number of held-out pairs, or None beyond :data:`MAX_PLANNED_QUERIES`.

    Raises:
        ValueError: If an argument is out of range.
    """
    p0 = accuracy_threshold(epsilon)
    truth = check_probability(accuracy, "accuracy")
    if truth >= p0:
        raise ValueError(f"accuracy {truth!r} must lie below (1 + epsilon)/2 = {p0!r}")
    return _first_reaching(
        lambda n: _fixed_n_power(n, truth, p0, check_alpha(alpha), "less"),
        lambda size: size,
        check_alpha(power, "power"),
    )


def _first_reaching(
    power_of: Callable[[np.ndarray], np.ndarray],
    pairs_of: Callable[[np.ndarray], np.ndarray],
    target: float,
) -> int | None:
    """The smallest size ≥ 1 (scanned in vectorized chunks) whose power reaches ``target``."""
    start, stop = 1, 1024
    while start <= MAX_PLANNED_QUERIES:
        sizes = np.arange(start, min(stop, MAX_PLANNED_QUERIES) + 1)
        pairs = pairs_of(sizes)
        usable = pairs >= 1
        reached = np.zeros(sizes.size, dtype=bool)
        reached[usable] = power_of(pairs[usable]) >= target
        if reached.any():
            return int(sizes[int(np.argmax(reached))])
        start, stop = stop + 1, stop * 4
    return None


def queries_needed(
    epsilon: float,
    *,
    mode: Mode = "detect",
    detect: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    buckets: int = 1,
    adversaries: int = 1,
    train_fraction: float = 0.5,
    looks: Callable[[int], Sequence[int]] | None = None,
    spending: Spending = "obrien-fleming",
) -> int | None:
    """The planner's arithmetic: the queries a run needs for its goal.

    The q queries are split equally over the buckets; in each bucket ``train_fraction`` of them
    (rounded down) train and the rest are the held-out pairs every adversary is scored on.

    - ``"detect"``: the smallest q at which a cell whose true advantage is ``detect`` is found
      with probability ≥ ``power`` (its test at α/m, m = buckets × adversaries, the first step of
      Holm's step-down; see :func:`detectable_advantage`).
    - ``"certify"``: the smallest q at which an identical pair (accuracy ½ in every cell) is
      certified with probability ≥ ``power``. Each cell is tested at α (intersection–union);
      whatever the dependence between cells, P(all certify) ≥ 1 − Σ P(a cell fails), so each
      cell is asked for power 1 − (1 − power)/m (exact for one cell).

    Fixed-n games (``looks`` None) are searched exhaustively, so the answer is the smallest q;
    for group-sequential games the search bisects over q (the power is almost but not exactly
    monotone in q), and the q returned reaches the power.

    Args:
        epsilon: the tolerated advantage ε, in [0, 1) ((0, 1) for certify).
        mode: ``"detect"`` or ``"certify"``.
        detect: for detect, the true advantage to find, in (ε, 1].
        power: the probability asked for, in (0, 1).
        alpha: the run's level, in (0, 1).
        buckets: the number of capability buckets, ≥ 1.
        adversaries: the number of adversaries, ≥ 1.
        train_fraction: the share of queries that train, in (0, 1), for fixed-n games.
        looks: for a sequential game, a function from one bucket's queries to the cumulative
            held-out pairs at each look of its round schedule.
        spending: the spending function of a sequential game.

    Returns:
        The total queries q (a multiple of ``buckets``), or None when no q up to
        :data:`MAX_PLANNED_QUERIES` (:data:`MAX_SEQUENTIAL_QUERIES` for a sequential game) per
        bucket reaches the power.

    Raises:
        ValueError: If an argument is out of range.
    """
    p0 = accuracy_threshold(epsilon)
    target = check_alpha(power, "power")
    alpha = check_alpha(alpha)
    cells = check_positive_int(buckets, "buckets") * check_positive_int(adversaries, "adversaries")
    fraction = check_alpha(train_fraction, "train_fraction")
    side: Alternative
    if mode == "detect":
        if detect is None or not check_epsilon(epsilon) < float(detect) <= 1.0:
            raise ValueError(f"detect must be an advantage in (epsilon, 1], got {detect!r}")
        accuracy, level, side, cell_power = (
            (1.0 + float(detect)) / 2.0,
            alpha / cells,
            "greater",
            target,
        )
    elif mode == "certify":
        if epsilon <= 0.0:
            raise ValueError("certify needs epsilon > 0: an identical pair sits exactly at ε = 0")
        accuracy, level, side, cell_power = 0.5, alpha, "less", 1.0 - (1.0 - target) / cells
    else:
        raise ValueError(f"mode must be 'detect' or 'certify', got {mode!r}")
    if looks is None:
        per_bucket = _first_reaching(
            lambda n: _fixed_n_power(n, accuracy, p0, level, side),
            lambda q: q - np.floor(q * fraction).astype(np.int64),
            cell_power,
        )
    else:
        per_bucket = _sequential_queries(looks, accuracy, p0, level, side, spending, cell_power)
    return None if per_bucket is None else per_bucket * buckets


def _sequential_queries(
    looks: Callable[[int], Sequence[int]],
    accuracy: float,
    p0: float,
    level: float,
    side: Alternative,
    spending: Spending,
    target: float,
) -> int | None:
    def reaches(queries: int) -> bool:
        design = group_sequential_design(
            check_looks(looks(queries)), p0, level, alternative=side, spending=spending
        )
        return operating_characteristics(design, accuracy).power >= target

    high = 2
    while not reaches(high):
        if high >= MAX_SEQUENTIAL_QUERIES:
            return None
        high = min(MAX_SEQUENTIAL_QUERIES, high * 2)
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle
    return high
