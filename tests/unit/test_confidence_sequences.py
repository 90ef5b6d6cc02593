"""Anytime-valid confidence sequences: coverage at every n at once, where fixed-n peeking fails.

Each coverage test simulates Bernoulli outcomes with a known accuracy and asserts a coverage of
at least 1 − α − 3σ, σ = sqrt(α(1 − α)/R) over R replications: if the true coverage is 1 − α,
a test fails with probability below 0.2% (the normal tail at 3σ); the seeds are fixed, so a run
is also reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_bbi.stats import (
    accuracy_threshold,
    anytime_p_value,
    clopper_pearson_lower,
    clopper_pearson_upper,
    confidence_sequence,
    confidence_sequence_radius,
    pairs_to_decide_sequentially,
)

ALPHA = 0.05
REPLICATIONS = 1000
PAIRS = 600


def _three_sigma_floor(alpha: float, replications: int) -> float:
    return 1 - alpha - 3 * math.sqrt(alpha * (1 - alpha) / replications)


def _radii(pairs: int, alpha: float) -> np.ndarray:
    return np.array(
        [confidence_sequence_radius(n, alpha, pairs) for n in range(1, pairs + 1)], dtype=float
    )


def _paths(accuracies: np.ndarray, seed: int) -> np.ndarray:
    """Cumulative correct counts, one row per replication, for per-pair accuracies."""
    rng = np.random.default_rng(seed)
    outcomes = rng.random((REPLICATIONS, accuracies.size)) < accuracies
    return np.cumsum(outcomes, axis=1)


@pytest.mark.parametrize("accuracy", [0.5, 0.6, 0.75, 0.95])
def test_confidence_sequence_covers_the_accuracy_at_every_n_at_once(accuracy: float) -> None:
    counts = _paths(np.full(PAIRS, accuracy), seed=int(accuracy * 1000))
    n = np.arange(1, PAIRS + 1)
    missed = (np.abs(counts / n - accuracy) >= _radii(PAIRS, ALPHA)).any(axis=1)
    assert 1 - missed.mean() >= _three_sigma_floor(ALPHA, REPLICATIONS)


def test_confidence_sequence_covers_a_drifting_accuracy_on_average() -> None:
    """A learned adversary refitted each round improves: the bound covers the running mean."""
    accuracies = np.linspace(0.5, 0.85, PAIRS)
    counts = _paths(accuracies, seed=7)
    n = np.arange(1, PAIRS + 1)
    running_mean = np.cumsum(accuracies) / n
    missed = (np.abs(counts / n - running_mean) >= _radii(PAIRS, ALPHA)).any(axis=1)
    assert 1 - missed.mean() >= _three_sigma_floor(ALPHA, REPLICATIONS)


def test_peeking_with_fixed_n_bounds_misses_far_more_than_alpha() -> None:
    """Why sequential mode needs the sequence: checking a Clopper–Pearson bound every round
    (at the rounds a sequential game uses) rejects a true accuracy of ½ well above α."""
    counts = _paths(np.full(PAIRS, 0.5), seed=3)
    looks = sorted({min(PAIRS, math.ceil(PAIRS / 16 * 1.5**r)) for r in range(8)})
    lower = {(k, n): clopper_pearson_lower(k, n, ALPHA) for n in looks for k in range(n + 1)}
    rejected = [any(lower[int(row[n - 1]), n] > 0.5 for n in looks) for row in counts]
    sigma = math.sqrt(ALPHA * (1 - ALPHA) / REPLICATIONS)
    assert np.mean(rejected) > ALPHA + 3 * sigma


def test_fixed_n_clopper_pearson_bounds_each_cover_at_one_minus_alpha() -> None:
    """The fixed-n mode's one-sided bounds, at the n a fixed game scores."""
    rng = np.random.default_rng(11)
    floor = _three_sigma_floor(ALPHA, REPLICATIONS)
    for accuracy in (0.5, 0.65, 0.9):
        ks = rng.binomial(PAIRS, accuracy, size=REPLICATIONS)
        assert np.mean([clopper_pearson_lower(int(k), PAIRS, ALPHA) <= accuracy for k in ks]) >= (
            floor
        )
        assert np.mean([clopper_pearson_upper(int(k), PAIRS, ALPHA) >= accuracy for k in ks]) >= (
            floor
        )


def test_sequence_is_wider_than_the_fixed_n_bound_and_tightest_where_tuned() -> None:
    n = 400
    fixed = clopper_pearson_upper(n // 2, n, ALPHA) - 0.5
    assert 1.5 * fixed < confidence_sequence_radius(n, ALPHA, n) < 2 * fixed
    assert confidence_sequence_radius(n, ALPHA, n) < confidence_sequence_radius(n, ALPHA, 16 * n)
    assert confidence_sequence_radius(n, ALPHA, n) < confidence_sequence_radius(n, ALPHA, n // 16)
    assert confidence_sequence_radius(0, ALPHA, n) == math.inf
    assert confidence_sequence(0, 0, ALPHA, n) == (0.0, 1.0)


counts = st.integers(min_value=1, max_value=5000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(
    kn=counts,
    epsilon=st.floats(min_value=0.0, max_value=0.9),
    alpha=st.floats(min_value=1e-4, max_value=0.3),
    planned=st.integers(min_value=1, max_value=10_000),
)
def test_anytime_p_value_rejects_exactly_when_the_lower_bound_passes_epsilon(
    kn: tuple[int, int], epsilon: float, alpha: float, planned: int
) -> None:
    k, n = kn
    threshold = accuracy_threshold(epsilon)
    lower, upper = confidence_sequence(k, n, alpha, planned)
    p_value = anytime_p_value(k, n, threshold, planned)
    assert 0.0 <= lower <= k / n <= upper <= 1.0
    assert 0.0 <= p_value <= 1.0
    if abs(lower - threshold) > 1e-9:
        assert (lower > threshold) == (p_value <= alpha)


@given(
    kn=counts,
    epsilon=st.floats(min_value=0.0, max_value=0.9),
    alpha=st.floats(min_value=1e-4, max_value=0.3),
)
def test_pairs_to_decide_sequentially_is_decisive_at_its_answer(
    kn: tuple[int, int], epsilon: float, alpha: float
) -> None:
    k, n = kn
    gap = abs(k / n - accuracy_threshold(epsilon))
    needed = pairs_to_decide_sequentially(k, n, epsilon, alpha)
    if needed is None:
        assert gap < 1e-3  # exactly at the threshold, or beyond MAX_PAIRS_TO_DECIDE
        return
    assert needed > n
    assert confidence_sequence_radius(needed, alpha, needed) <= gap * (1 + 1e-9)
    if needed > n + 1:
        assert confidence_sequence_radius(needed - 1, alpha, needed - 1) > gap


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: confidence_sequence(1, 4, 0.05, 0), "planned_pairs must be >= 1"),
        (lambda: confidence_sequence(1, 4, 0.05, 2.5), "planned_pairs must be an integer"),
        (lambda: confidence_sequence(5, 4, 0.05, 10), "k \\(correct identifications\\)"),
        (lambda: confidence_sequence_radius(4, 1.0, 10), "alpha must lie strictly"),
        (lambda: anytime_p_value(1, 4, 1.5, 10), "p0 must lie in"),
        (lambda: pairs_to_decide_sequentially(1, 4, 1.0, 0.05), "epsilon must lie in"),
    ],
)
def test_invalid_arguments_raise(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
