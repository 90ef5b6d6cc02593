"""Certify as an intersection–union test: each cell at α, a false certificate at most α."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from pytest_bbi.stats import (
    accuracy_threshold,
    binomial_p_value,
    critical_count,
    group_sequential_design,
    holm,
    intersection_union,
)

ALPHA = 0.05
RUNS = 4000
EPSILON = 0.1
CELLS = 6


def _ceiling(rate: float = ALPHA) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / RUNS)


def _certify_p_values(counts: np.ndarray, n: int, p0: float) -> np.ndarray:
    return np.asarray(sps.binom.cdf(counts, n, p0))


def test_one_cell_exactly_at_epsilon_is_falsely_certified_at_most_alpha() -> None:
    """Five cells of an identical pair (accuracy ½) and one at exactly (1 + ε)/2: certifying
    claims every cell is within ε, so it is false here; it happens at most α, not α·m."""
    n, p0 = 1500, accuracy_threshold(EPSILON)
    rng = np.random.default_rng(79)
    accuracies = np.array([p0] + [0.5] * (CELLS - 1))
    counts = rng.binomial(n, accuracies, size=(RUNS, CELLS))
    certify = _certify_p_values(counts, n, p0)
    certified = [
        intersection_union(np.ones(CELLS).tolist(), row.tolist(), ALPHA).certified
        for row in certify
    ]
    rate = float(np.mean(certified))
    assert rate <= _ceiling()
    assert rate > ALPHA / 2  # each cell really is tested at α, not α/m


def test_an_identical_pair_is_certified_far_more_often_than_under_bonferroni() -> None:
    n, p0 = 1500, accuracy_threshold(EPSILON)
    counts = np.random.default_rng(83).binomial(n, 0.5, size=(RUNS, CELLS))
    certify = _certify_p_values(counts, n, p0)
    intersection_union_rate = (certify <= ALPHA).all(axis=1).mean()
    bonferroni_rate = (certify <= ALPHA / CELLS).all(axis=1).mean()
    assert intersection_union_rate > 0.8
    assert bonferroni_rate < intersection_union_rate - 0.2


def test_sequential_certify_with_one_cell_at_epsilon_keeps_the_level() -> None:
    """The same with frozen adversaries scored on rounds of held-out pairs (the round schedule of
    3000 queries): each cell's certify design at α; certified when every cell's design has
    crossed by the last look."""
    looks, p0 = (94, 141, 211, 317, 476, 713, 1069, 1501), accuracy_threshold(EPSILON)
    design = group_sequential_design(looks, p0, ALPHA, alternative="less")
    rng = np.random.default_rng(89)
    accuracies = np.array([p0] + [0.5] * (CELLS - 1))
    sizes = np.diff((0, *looks))
    paths = np.cumsum(rng.binomial(sizes[:, None], accuracies, size=(RUNS, len(looks), CELLS)), 1)
    crossed = (paths <= np.asarray(design.boundaries)[None, :, None]).any(axis=1)
    assert crossed.all(axis=1).mean() <= _ceiling()
    assert crossed[:, 1:].all(axis=1).mean() > 0.9  # the cells within ε do certify


def test_intersection_union_combines_the_two_claims() -> None:
    n, p0 = 400, 0.55
    cells = [(200, n), (195, n), (260, n)]
    detect = [binomial_p_value(k, m, p0) for k, m in cells]
    certify = [binomial_p_value(k, m, p0, "less") for k, m in cells]
    decision = intersection_union(detect, certify, ALPHA)
    assert decision.within == (True, True, False)
    assert decision.distinguishable == tuple(holm(detect, ALPHA)) == (False, False, True)
    assert not decision.certified
    assert intersection_union(detect[:2], certify[:2], ALPHA).certified
    assert not intersection_union([], [], ALPHA).certified
    # exactly the one-sided Clopper–Pearson test of each cell at α
    limit = critical_count(n, p0, ALPHA, "less")
    assert (
        binomial_p_value(limit, n, p0, "less") <= ALPHA < binomial_p_value(limit + 1, n, p0, "less")
    )
    with pytest.raises(ValueError, match="give one of each per cell"):
        intersection_union([0.1], [0.1, 0.2], ALPHA)
    with pytest.raises(ValueError, match="every p-value must lie in"):
        intersection_union([0.1], [1.2], ALPHA)
