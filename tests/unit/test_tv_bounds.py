"""The statistics of the white-box certificate: TV terms, the mean bound and what TV implies."""

import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_bbi import stats


def test_tv_terms_are_the_positive_part_of_one_minus_the_ratio():
    terms = stats.tv_terms([-1.0, -2.0, -3.0, -0.5], [-1.5, -1.0, -math.inf, -0.5])
    assert terms == pytest.approx([1 - math.exp(-0.5), 0.0, 1.0, 0.0])


def test_tv_terms_estimate_the_total_variation_without_bias():
    # T = (0.5, 0.3, 0.2), S = (0.2, 0.3, 0.5): TV = 0.3; E_{y~T}[(1 - S/T)+] must equal it.
    teacher, student = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    expected = sum(
        t * stats.tv_terms([math.log(t)], [math.log(s)])[0]
        for t, s in zip(teacher, student, strict=True)
    )
    assert expected == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("teacher", "student"), [([-math.inf], [-1.0]), ([math.nan], [-1.0]), ([-1.0], [math.nan])]
)
def test_tv_terms_refuse_impossible_teacher_samples(teacher, student):
    with pytest.raises(ValueError, match="teacher sample"):
        stats.tv_terms(teacher, student)


def test_tv_terms_refuse_different_lengths():
    with pytest.raises(ValueError, match="same samples"):
        stats.tv_terms([-1.0], [])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=60), st.sampled_from([0.01, 0.05, 0.2]))
def test_mean_upper_bound_is_above_the_mean_and_at_most_one(values, alpha):
    bound = stats.mean_upper_bound(values, alpha)
    assert sum(values) / len(values) - 1e-12 <= bound <= 1.0
    assert stats.mean_upper_bound(values, alpha / 2) >= bound - 1e-12


def test_mean_upper_bound_edges():
    assert stats.mean_upper_bound([], 0.05) == 1.0
    assert stats.mean_upper_bound([1.0, 1.0], 0.05) == 1.0
    # All zeros: the exact binomial answer 1 - α^(1/n).
    assert stats.mean_upper_bound([0.0] * 80, 0.05) == pytest.approx(1 - 0.05 ** (1 / 80))
    with pytest.raises(ValueError, match="every value"):
        stats.mean_upper_bound([1.5], 0.05)
    with pytest.raises(ValueError, match="alpha"):
        stats.mean_upper_bound([0.5], 1.0)


@pytest.mark.parametrize("means", [[0.02] * 50, [0.3] * 50, list(np.linspace(0, 0.5, 50))])
def test_mean_upper_bound_covers_the_mean_of_unequal_means(means):
    # Terms with different means (one per prompt) and a continuous law: coverage >= 1 - α.
    rng = np.random.default_rng(0)
    alpha, replications = 0.1, 1000
    target = float(np.mean(means))
    misses = 0
    for _ in range(replications):
        # U-shaped Beta(1/2, 1/2) draws (mean 1/2) scaled to the given means, each in [0, 1].
        values = rng.beta(0.5, 0.5, size=len(means)) * 2 * np.array(means)
        misses += stats.mean_upper_bound(values.tolist(), alpha) < target
    assert misses / replications <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / replications)


def test_pairwise_bound_is_attained_and_exceeds_tv():
    # T uniform on {a, b}, S uniform on {b, c}: TV = 1/2, but a pair (one of each, random
    # order) gives the optimal adversary advantage 3/4 = 1 - (1 - 1/2)^2.
    teacher = {"a": 0.5, "b": 0.5}
    student = {"b": 0.5, "c": 0.5}
    correct = 0.0
    for a in teacher | student:
        for b in teacher | student:
            t_first = teacher.get(a, 0) * student.get(b, 0)
            s_first = student.get(a, 0) * teacher.get(b, 0)
            correct += 0.5 * max(t_first, s_first)
    assert 2 * correct - 1 == pytest.approx(stats.queries_bound_from_tv(0.5, 2)) == 0.75
    assert stats.queries_bound_from_tv(0.5, 2) == 0.75
    assert stats.queries_bound_from_tv(0.1, 0) == 0.0
    with pytest.raises(ValueError, match="queries"):
        stats.queries_bound_from_tv(0.1, -1)
    with pytest.raises(ValueError, match="tv"):
        stats.queries_bound_from_tv(1.5, 2)


def test_pairwise_bound_holds_for_random_distributions():
    rng = random.Random(0)
    for _ in range(200):
        t = np.array([rng.random() for _ in range(4)])
        s = np.array([rng.random() for _ in range(4)])
        t, s = t / t.sum(), s / s.sum()
        tv = 0.5 * float(np.abs(t - s).sum())
        pair_tv = 0.5 * float(np.abs(np.outer(t, s) - np.outer(s, t)).sum())
        assert pair_tv <= stats.queries_bound_from_tv(tv, 2) + 1e-12
