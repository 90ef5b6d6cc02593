"""Betting confidence sequences: time-uniform coverage, where fixed-n bounds and raw counts fail.

A miss of the lower bound at any time t is the event that the capital at the true mean ever
reached 1/α, which is exactly ``betting_p_value(values, mean) <= alpha`` over the whole sequence;
the tests check that rate against α + 3σ over a fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from pytest_bbi.stats import (
    betting_lower_bound,
    betting_p_value,
    betting_upper_bound,
    binomial_p_value,
    clopper_pearson_lower,
)

ALPHA = 0.05
RUNS = 2000
PAIRS = 500


def _ceiling(runs: int = RUNS) -> float:
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


@pytest.mark.parametrize("horizon", [None, PAIRS])
@pytest.mark.parametrize("mean", [0.5, 0.9])
def test_bounds_cover_a_constant_mean_at_every_time_at_once(
    mean: float, horizon: int | None
) -> None:
    rng = np.random.default_rng(int(mean * 100) + (horizon or 0))
    draws = (rng.random((RUNS, PAIRS)) < mean).astype(float)
    for alternative in ("greater", "less"):
        misses = [
            betting_p_value(row, mean, alternative=alternative, horizon=horizon) <= ALPHA
            for row in draws
        ]
        assert np.mean(misses) <= _ceiling()


def test_optional_stopping_keeps_coverage_where_peeking_at_clopper_pearson_does_not() -> None:
    """Stop the first time the running accuracy looks 2 standard errors above ½ (or at the end):
    the betting bound at that time still covers ½; a fixed-n bound at the same time does not."""
    runs, mean = 1000, 0.5
    rng = np.random.default_rng(17)
    draws = (rng.random((runs, PAIRS)) < mean).astype(float)
    n = np.arange(1, PAIRS + 1)
    looks_high = np.cumsum(draws, axis=1) / n - mean > 2 * np.sqrt(mean * (1 - mean) / n)
    looks_high[:, :10] = False
    stop = np.where(looks_high.any(axis=1), looks_high.argmax(axis=1), PAIRS - 1) + 1
    betting_misses = [
        betting_lower_bound(row[:t], ALPHA) > mean for row, t in zip(draws, stop, strict=True)
    ]
    peeking_misses = [
        clopper_pearson_lower(int(row[:t].sum()), int(t), ALPHA) > mean
        for row, t in zip(draws, stop, strict=True)
    ]
    assert np.mean(betting_misses) <= _ceiling(runs)
    assert np.mean(peeking_misses) > 3 * ALPHA


def test_drifting_means_below_the_null_keep_the_level() -> None:
    """Refits change the accuracy every round, adaptively: p0 while the capital is ahead, lower
    otherwise. Every conditional mean is at most p0, so the capital stays a supermartingale."""
    p0, rounds = 0.55, (40, 60, 90, 135, 175)
    rng = np.random.default_rng(23)
    rejected = 0
    for _ in range(RUNS):
        values: list[float] = []
        for size in rounds:
            ahead = bool(values) and np.mean(values) > p0
            accuracy = p0 if ahead else p0 - rng.uniform(0.0, 0.1)
            values.extend((rng.random(size) < accuracy).astype(float))
        rejected += betting_p_value(values, p0, horizon=sum(rounds)) <= ALPHA
    assert rejected / RUNS <= _ceiling()


PROMPTS = 50
TELLING = 10
"""The advantage lives on a fifth of the prompts."""
ROUNDS = (50, 75, 110, 165, 250)


def _acquired_game(
    rng: np.random.Generator, telling_accuracy: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Disagreement-style acquisition: round 1 uniform over D, later rounds put 80% of the draws
    on the ten telling prompts. Returns the weighted values d/π·Z, the raw Z and the accuracy
    under D."""
    d = np.full(PROMPTS, 1 / PROMPTS)
    accuracy = np.full(PROMPTS, 0.5)
    accuracy[:TELLING] = telling_accuracy
    focused = np.full(PROMPTS, 0.2 / (PROMPTS - TELLING))
    focused[:TELLING] = 0.8 / TELLING
    weighted, raw = [], []
    for index, size in enumerate(ROUNDS):
        propensity = d if index == 0 else focused
        prompts = rng.choice(PROMPTS, size=size, p=propensity)
        correct = (rng.random(size) < accuracy[prompts]).astype(float)
        weighted.append(correct * d[prompts] / propensity[prompts])
        raw.append(correct)
    return np.concatenate(weighted), np.concatenate(raw), float(d @ accuracy)


def test_importance_weighted_pairs_concentrated_on_a_fifth_of_the_prompts() -> None:
    """The average advantage is exactly ε = 0.1 (0.5 on a fifth of the prompts, 0 elsewhere):
    weighted by d/π the betting bound falsely detects at most α and covers the accuracy from
    above; the unweighted count, which over-samples the telling prompts, always "detects"."""
    p0, bound, runs = 0.55, 4.0, 1000
    rng = np.random.default_rng(29)
    detected = missed_above = naive = 0
    for _ in range(runs):
        weighted, raw, accuracy = _acquired_game(rng, telling_accuracy=0.75)
        assert accuracy == pytest.approx(p0)
        assert weighted.max() <= bound
        detected += betting_p_value(weighted, p0, bound=bound, horizon=weighted.size) <= ALPHA
        missed_above += (
            betting_p_value(
                weighted, accuracy, bound=bound, alternative="less", horizon=weighted.size
            )
            <= ALPHA
        )
        naive += binomial_p_value(int(raw.sum()), raw.size, p0) <= ALPHA
    assert detected / runs <= _ceiling(runs)
    assert missed_above / runs <= _ceiling(runs)
    assert naive / runs > 0.9


def test_weighted_bound_detects_a_large_advantage() -> None:
    rng = np.random.default_rng(31)
    detected = 0
    for _ in range(200):
        weighted, _, accuracy = _acquired_game(rng, telling_accuracy=1.0)
        assert accuracy == pytest.approx(0.6)
        lower = betting_lower_bound(weighted, ALPHA, bound=4.0, horizon=weighted.size)
        detected += lower > 0.5
    assert detected / 200 > 0.5


def test_p_value_and_bounds_agree_and_scale_with_the_bound() -> None:
    rng = np.random.default_rng(37)
    for mean in (0.3, 0.55, 0.8):
        values = (rng.random(300) < mean).astype(float)
        lower = betting_lower_bound(values, ALPHA, horizon=300)
        upper = betting_upper_bound(values, ALPHA, horizon=300)
        assert 0.0 <= lower <= values.mean() <= upper <= 1.0
        for null in np.linspace(0.05, 0.95, 19):
            if abs(null - lower) > 1e-9:
                assert (betting_p_value(values, null, horizon=300) <= ALPHA) == (null < lower)
            if abs(null - upper) > 1e-9:
                less = betting_p_value(values, null, alternative="less", horizon=300)
                assert (less <= ALPHA) == (null > upper)
        scaled = betting_lower_bound(values * 3.0, ALPHA, bound=3.0, horizon=300)
        assert scaled == pytest.approx(3.0 * lower, abs=1e-9)
    assert betting_lower_bound([], ALPHA) == 0.0
    assert betting_upper_bound([], ALPHA, bound=2.0) == 2.0
    assert betting_p_value([], 0.5) == 1.0
    assert betting_p_value([1.0, 1.0], 1.0) == 1.0


def test_tuned_for_its_horizon_the_bound_is_nearly_as_tight_as_clopper_pearson() -> None:
    """The price of anytime validity is small when the bets are tuned for the planned pairs;
    untuned bets spread their power over every sample size and are looser at any one."""
    rng = np.random.default_rng(41)
    values = (rng.random(2000) < 0.6).astype(float)
    previous = 0.0
    for n in (100, 400, 2000):
        tuned = betting_lower_bound(values[:n], ALPHA, horizon=n)
        exact = clopper_pearson_lower(int(values[:n].sum()), n, ALPHA)
        assert tuned <= exact < tuned + 0.03
        assert betting_lower_bound(values[:n], ALPHA) < tuned
        assert tuned > previous
        previous = tuned


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: betting_lower_bound([0.5, 1.5], ALPHA), "every value must lie in"),
        (lambda: betting_lower_bound([math.nan], ALPHA), "every value must lie in"),
        (lambda: betting_lower_bound([0.5], ALPHA, bound=0.0), "bound \\(the largest"),
        (lambda: betting_upper_bound([0.5], 1.0), "alpha must lie strictly"),
        (lambda: betting_p_value([0.5], 1.5), "null_mean must lie in"),
        (lambda: betting_p_value([0.5], 0.5, horizon=0), "horizon must be >= 1"),
        (
            lambda: betting_p_value([0.5], 0.5, alternative="both"),  # type: ignore[arg-type]
            "alternative must be",
        ),
    ],
)
def test_invalid_arguments_raise(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
