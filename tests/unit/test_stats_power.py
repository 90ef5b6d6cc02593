"""Power and planning: the detectable advantage and the planner's queries, checked exactly and
by seeded simulation at the power they promise."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps
from scipy.stats import binomtest

from pytest_bbi.stats import (
    critical_count,
    detectable_advantage,
    fixed_n_power,
    group_sequential_design,
    operating_characteristics,
    pairs_to_certify,
    queries_needed,
)

ALPHA = 0.05
RUNS = 4000
LOOKS_48 = (2, 3, 4, 6, 9, 13, 19, 26)
"""Cumulative held-out pairs of acquisition.schedule(48, 0.5, sequential=True)."""
LOOKS_2000 = (63, 95, 142, 212, 318, 477, 714, 1002)
"""The same for 2000 queries."""


def _held_out(queries: int, train_fraction: float = 0.5) -> int:
    return queries - math.floor(queries * train_fraction)


def _geometric_looks(queries: int) -> tuple[int, ...]:
    """A round schedule like the engine's: cumulative queries from 1/16 growing by 1.5; each
    round trains on half its new queries (rounded down, at least one in the first round)."""
    totals: list[int] = []
    share = 1 / 16
    while not totals or totals[-1] < queries:
        total = min(queries, max(2, math.ceil(queries * share)))
        if not totals or total > totals[-1]:
            totals.append(total)
        share *= 1.5
    looks, spent, held_out = [], 0, 0
    for index, total in enumerate(totals):
        size = total - spent
        train = max(size // 2, 1) if index == 0 else size // 2
        held_out += size - train
        looks.append(held_out)
        spent = total
    return tuple(looks)


def _sigma(rate: float, runs: int = RUNS) -> float:
    return math.sqrt(rate * (1 - rate) / runs)


# --------------------------------------------------------------------------------------------
# Fixed-n critical counts and power
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p0", [0.5, 0.55, 0.8])
def test_critical_counts_are_the_exact_test_boundaries(p0: float) -> None:
    for n in (1, 5, 24, 100, 333):
        greater = critical_count(n, p0, ALPHA)
        less = critical_count(n, p0, ALPHA, "less")
        for k in range(n + 1):
            assert (k >= greater) == (binomtest(k, n, p0, "greater").pvalue <= ALPHA), (n, k)
            assert (k <= less) == (binomtest(k, n, p0, "less").pvalue <= ALPHA), (n, k)
        expected = sps.binom.sf(greater - 1, n, 0.7)
        assert fixed_n_power(n, 0.7, p0, ALPHA) == pytest.approx(expected)
        assert fixed_n_power(n, 0.3, p0, ALPHA, "less") == pytest.approx(
            sps.binom.cdf(less, n, 0.3)
        )


# --------------------------------------------------------------------------------------------
# detectable
# --------------------------------------------------------------------------------------------


def test_detectable_matches_the_issue_at_48_and_2000_queries() -> None:
    """One adversary, ε = 0.1, α = 0.05: an A/A pass at 48 queries could not have seen 0.4, at
    2000 queries it would have seen 0.2 (fixed-n and sequential)."""
    small = detectable_advantage(_held_out(48), epsilon=0.1, alpha=ALPHA)
    large = detectable_advantage(_held_out(2000), epsilon=0.1, alpha=ALPHA)
    assert small is not None
    assert large is not None
    assert small >= 0.4
    assert large <= 0.2
    sequential_small = detectable_advantage(LOOKS_48, epsilon=0.1, alpha=ALPHA)
    sequential_large = detectable_advantage(LOOKS_2000, epsilon=0.1, alpha=ALPHA)
    assert sequential_small is not None
    assert sequential_large is not None
    assert sequential_small >= 0.4
    assert sequential_large <= 0.2


@pytest.mark.parametrize("cells", [1, 6])
def test_detectable_advantage_is_found_with_the_promised_power(cells: int) -> None:
    n, epsilon = 300, 0.1
    advantage = detectable_advantage(n, epsilon=epsilon, alpha=ALPHA, cells=cells)
    assert advantage is not None
    accuracy = (1 + advantage) / 2
    p0 = (1 + epsilon) / 2
    assert fixed_n_power(n, accuracy, p0, ALPHA / cells) == pytest.approx(0.8, abs=1e-9)
    assert fixed_n_power(n, accuracy - 1e-3, p0, ALPHA / cells) < 0.8
    counts = np.random.default_rng(cells).binomial(n, accuracy, size=RUNS)
    found = (counts >= critical_count(n, p0, ALPHA / cells)).mean()
    assert abs(found - 0.8) <= 3 * _sigma(0.8)


def test_sequential_detectable_advantage_is_found_with_the_promised_power() -> None:
    looks = (32, 48, 72, 107, 160, 239, 358, 502)
    advantage = detectable_advantage(looks, epsilon=0.0, alpha=ALPHA)
    assert advantage is not None
    accuracy = (1 + advantage) / 2
    design = group_sequential_design(looks, 0.5, ALPHA)
    assert operating_characteristics(design, accuracy).power >= 0.8
    assert operating_characteristics(design, accuracy - 1e-6).power < 0.8
    rng = np.random.default_rng(53)
    paths = np.cumsum(rng.binomial(np.diff((0, *looks)), accuracy, size=(RUNS, len(looks))), 1)
    found = (paths >= np.asarray(design.boundaries)).any(axis=1).mean()
    assert abs(found - 0.8) <= 3 * _sigma(0.8)


def test_detectable_grows_with_cells_and_is_none_without_enough_pairs() -> None:
    values = [detectable_advantage(500, epsilon=0.1, alpha=ALPHA, cells=m) for m in (1, 2, 6, 12)]
    assert all(v is not None for v in values)
    assert values == sorted(values)  # type: ignore[type-var]
    assert detectable_advantage(3, epsilon=0.1, alpha=ALPHA / 12) is None
    assert detectable_advantage((1, 2), epsilon=0.1, alpha=0.001) is None


# --------------------------------------------------------------------------------------------
# Certify: single-cell pairs and the planner
# --------------------------------------------------------------------------------------------


def test_pairs_to_certify_is_the_smallest_n_reaching_the_power() -> None:
    for power in (0.5, 0.8):
        n = pairs_to_certify(0.1, ALPHA, power=power)
        assert n is not None
        assert fixed_n_power(n, 0.5, 0.55, ALPHA, "less") >= power
        assert all(fixed_n_power(m, 0.5, 0.55, ALPHA, "less") < power for m in range(1, n))
    median = pairs_to_certify(0.1, ALPHA, power=0.5)
    assert median is not None
    assert 250 <= median <= 290  # the issue's "271 held-out pairs to certify ε = 0.1"
    counts = np.random.default_rng(59).binomial(median, 0.5, size=RUNS)
    certified = (counts <= critical_count(median, 0.55, ALPHA, "less")).mean()
    assert certified >= 0.5 - 3 * _sigma(0.5)


def test_certify_plan_for_several_cells_certifies_an_identical_pair_with_the_power() -> None:
    """Four independent cells at accuracy ½, each tested at α (intersection–union)."""
    buckets, adversaries = 2, 2
    queries = queries_needed(0.1, mode="certify", buckets=buckets, adversaries=adversaries)
    assert queries is not None
    assert queries % buckets == 0
    n = _held_out(queries // buckets)
    limit = critical_count(n, 0.55, ALPHA, "less")
    counts = np.random.default_rng(61).binomial(n, 0.5, size=(RUNS, buckets * adversaries))
    certified = (counts <= limit).all(axis=1).mean()
    assert certified >= 0.8 - 3 * _sigma(0.8)
    single = queries_needed(0.1, mode="certify")
    assert single is not None
    assert _held_out(single) == pairs_to_certify(0.1, ALPHA)


# --------------------------------------------------------------------------------------------
# Detect: planner round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("buckets", "adversaries"), [(1, 1), (3, 2)])
def test_detect_plan_round_trips_through_detectable(buckets: int, adversaries: int) -> None:
    queries = queries_needed(0.1, detect=0.3, buckets=buckets, adversaries=adversaries)
    assert queries is not None
    per_bucket = queries // buckets
    cells = buckets * adversaries
    enough = detectable_advantage(_held_out(per_bucket), epsilon=0.1, alpha=ALPHA, cells=cells)
    fewer = detectable_advantage(_held_out(per_bucket - 1), epsilon=0.1, alpha=ALPHA, cells=cells)
    assert enough is not None
    assert enough <= 0.3
    assert fewer is None or fewer > 0.3


def test_sequential_plan_reaches_the_power() -> None:
    queries = queries_needed(0.0, detect=0.12, looks=_geometric_looks)
    assert queries is not None
    design = group_sequential_design(_geometric_looks(queries), 0.5, ALPHA)
    assert operating_characteristics(design, 0.56).power >= 0.8
    fixed = queries_needed(0.0, detect=0.12)
    assert fixed is not None
    assert queries <= 1.15 * fixed  # O'Brien–Fleming spending costs little at the largest n
    certify = queries_needed(0.1, mode="certify", looks=_geometric_looks)
    assert certify is not None
    less = group_sequential_design(_geometric_looks(certify), 0.55, ALPHA, alternative="less")
    assert operating_characteristics(less, 0.5).power >= 0.8


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: queries_needed(0.1), "detect must be an advantage"),
        (lambda: queries_needed(0.1, detect=0.05), "detect must be an advantage"),
        (lambda: queries_needed(0.0, mode="certify"), "certify needs epsilon > 0"),
        (lambda: queries_needed(0.1, mode="audit"), "mode must be"),  # type: ignore[arg-type]
        (lambda: queries_needed(0.1, detect=0.3, buckets=0), "buckets must be >= 1"),
        (lambda: queries_needed(0.1, detect=0.3, power=1.0), "power must lie strictly"),
        (lambda: queries_needed(0.1, detect=0.3, train_fraction=1.0), "train_fraction must lie"),
        (lambda: detectable_advantage(0, epsilon=0.1, alpha=ALPHA), "looks must be >= 1"),
        (lambda: detectable_advantage(10, epsilon=0.1, alpha=ALPHA, cells=0), "cells must be"),
        (lambda: pairs_to_certify(0.1, ALPHA, accuracy=0.6), "must lie below"),
        (lambda: critical_count(0, 0.5, ALPHA), "n must be >= 1"),
    ],
)
def test_invalid_arguments_raise(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
