"""Unit tests of pytest_bbi.stats against scipy references and statistical properties."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from pytest_bbi import stats
from pytest_bbi.stats import (
    accuracy_threshold,
    binomial_p_value,
    clopper_pearson,
    clopper_pearson_lower,
    clopper_pearson_upper,
    held_out_pairs_to_decide,
    holm,
    holm_adjusted,
    mean_lower_bound,
    mean_upper_bound,
    to_advantage,
)

REL = 1e-9
ABS = 1e-12


@st.composite
def counts(draw: st.DrawFn, max_n: int = 500) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=max_n))
    k = draw(st.integers(min_value=0, max_value=n))
    return k, n


alphas = st.floats(min_value=1e-6, max_value=0.5)
p_value_lists = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12)


# --------------------------------------------------------------------------------------------
# accuracy ↔ advantage
# --------------------------------------------------------------------------------------------


def test_accuracy_threshold_and_advantage() -> None:
    assert accuracy_threshold(0.0) == 0.5
    assert accuracy_threshold(0.2) == pytest.approx(0.6)
    assert to_advantage(0.5) == 0.0
    assert to_advantage(1.0) == 1.0
    assert to_advantage(0.0) == -1.0
    for eps in (0.0, 0.1, 0.37, 0.9):
        assert to_advantage(accuracy_threshold(eps)) == pytest.approx(eps)
    assert type(accuracy_threshold(0.1)) is float
    assert type(to_advantage(0.7)) is float


# --------------------------------------------------------------------------------------------
# Agreement with scipy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p0", [0.5, 0.55, 0.6, 0.75])
def test_binomial_p_value_matches_binomtest(p0: float) -> None:
    for n in range(1, 61, 3):
        for k in range(n + 1):
            expected = binomtest(k, n, p0, alternative="greater").pvalue
            got = binomial_p_value(k, n, p0)
            assert type(got) is float
            assert got == pytest.approx(expected, rel=REL, abs=ABS), (k, n, p0)


def test_binomial_p_value_edges() -> None:
    assert binomial_p_value(0, 0, 0.5) == 1.0
    assert binomial_p_value(0, 10, 0.5) == 1.0
    assert binomial_p_value(10, 10, 0.5) == pytest.approx(0.5**10)
    assert binomial_p_value(3, 10, 0.0) == 0.0
    assert binomial_p_value(10, 10, 1.0) == 1.0


@pytest.mark.parametrize("p0", [0.5, 0.55, 0.75])
def test_binomial_p_value_less_matches_binomtest_and_the_upper_bound(p0: float) -> None:
    for n in range(1, 61, 7):
        for k in range(n + 1):
            expected = binomtest(k, n, p0, alternative="less").pvalue
            got = binomial_p_value(k, n, p0, "less")
            assert got == pytest.approx(expected, rel=REL, abs=ABS), (k, n, p0)
            upper = clopper_pearson_upper(k, n, 0.05)
            if abs(upper - p0) > 1e-9:
                assert (got <= 0.05) == (upper < p0)
    assert binomial_p_value(0, 0, p0, "less") == 1.0
    assert binomial_p_value(5, 5, p0, "less") == 1.0
    with pytest.raises(ValueError, match="alternative must be"):
        binomial_p_value(1, 2, p0, "two-sided")  # type: ignore[arg-type]


def test_mean_lower_bound_mirrors_the_upper_bound() -> None:
    values = [0.2, 0.9, 1.0, 0.7, 0.6]
    mirrored = [1 - v for v in values]
    assert mean_lower_bound(values, 0.1) == pytest.approx(1 - mean_upper_bound(mirrored, 0.1))
    assert mean_lower_bound([], 0.1) == 0.0
    assert mean_lower_bound([1.0] * 50, 0.05) == pytest.approx(0.05 ** (1 / 50))
    assert mean_lower_bound(values, 0.1) < sum(values) / len(values)
    rng = np.random.default_rng(97)
    draws = rng.beta(4, 2, size=(2000, 60))  # mean 2/3, fractional values
    covered = np.mean([mean_lower_bound(row.tolist(), 0.05) <= 2 / 3 for row in draws])
    assert covered >= 1 - 0.05 - 3 * math.sqrt(0.05 * 0.95 / 2000)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.32])
def test_clopper_pearson_matches_binomtest(alpha: float) -> None:
    for n in (1, 2, 3, 7, 10, 25, 50, 100, 333):
        for k in sorted({0, 1, n // 4, n // 2, (3 * n) // 4, n - 1, n}):
            ref = binomtest(k, n)
            two = ref.proportion_ci(confidence_level=1 - alpha, method="exact")
            lower, upper = clopper_pearson(k, n, alpha)
            assert type(lower) is float
            assert type(upper) is float
            assert lower == pytest.approx(two.low, rel=REL, abs=ABS), (k, n, alpha)
            assert upper == pytest.approx(two.high, rel=REL, abs=ABS), (k, n, alpha)

            greater = binomtest(k, n, alternative="greater").proportion_ci(1 - alpha, "exact")
            assert clopper_pearson_lower(k, n, alpha) == pytest.approx(
                greater.low, rel=REL, abs=ABS
            )
            less = binomtest(k, n, alternative="less").proportion_ci(1 - alpha, "exact")
            assert clopper_pearson_upper(k, n, alpha) == pytest.approx(less.high, rel=REL, abs=ABS)


def test_clopper_pearson_edges() -> None:
    assert clopper_pearson(0, 0, 0.05) == (0.0, 1.0)
    assert clopper_pearson_lower(0, 10, 0.05) == 0.0
    assert clopper_pearson_upper(10, 10, 0.05) == 1.0
    # closed forms: k = n gives lower alpha**(1/n); k = 0 gives upper 1 - alpha**(1/n)
    assert clopper_pearson_lower(10, 10, 0.05) == pytest.approx(0.05 ** (1 / 10), rel=REL)
    assert clopper_pearson_upper(0, 10, 0.05) == pytest.approx(1 - 0.05 ** (1 / 10), rel=REL)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(kn=counts(), small=alphas, ratio=st.floats(min_value=1.001, max_value=1000.0))
def test_intervals_nest_as_confidence_grows(
    kn: tuple[int, int], small: float, ratio: float
) -> None:
    # alphas a few ulps apart would only probe scipy's root-finder noise; keep them 0.1% apart
    k, n = kn
    big = min(small * ratio, 0.9)
    wide = clopper_pearson(k, n, small)
    narrow = clopper_pearson(k, n, big)
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]
    assert clopper_pearson_lower(k, n, small) <= clopper_pearson_lower(k, n, big)
    assert clopper_pearson_upper(k, n, small) >= clopper_pearson_upper(k, n, big)


@settings(max_examples=200, deadline=None)
@given(kn=counts(max_n=5000), alpha=alphas)
def test_bounds_bracket_the_observed_accuracy(kn: tuple[int, int], alpha: float) -> None:
    k, n = kn
    lower, upper = clopper_pearson(k, n, alpha)
    assert 0.0 <= lower <= k / n <= upper <= 1.0
    assert 0.0 <= clopper_pearson_lower(k, n, alpha) <= k / n
    assert k / n <= clopper_pearson_upper(k, n, alpha) <= 1.0


@settings(max_examples=200, deadline=None)
@given(kn=counts(), alpha=alphas, p0=st.floats(min_value=0.0, max_value=1.0))
def test_monotone_in_k(kn: tuple[int, int], alpha: float, p0: float) -> None:
    k, n = kn
    assume(k < n)
    assert binomial_p_value(k + 1, n, p0) <= binomial_p_value(k, n, p0)
    assert clopper_pearson_lower(k + 1, n, alpha) >= clopper_pearson_lower(k, n, alpha)
    assert clopper_pearson_upper(k + 1, n, alpha) >= clopper_pearson_upper(k, n, alpha)


@settings(max_examples=300, deadline=None)
@given(p_values=p_value_lists, alpha=st.floats(min_value=1e-4, max_value=0.5))
def test_holm_between_bonferroni_and_unadjusted(p_values: list[float], alpha: float) -> None:
    m = len(p_values)
    rejected = holm(p_values, alpha)
    assert len(rejected) == m
    for p, reject in zip(p_values, rejected, strict=True):
        assert type(reject) is bool
        if reject:  # never more than the unadjusted tests
            assert p <= alpha
        if m * p <= alpha:  # never fewer than Bonferroni (written as min(1, m·p) <= alpha)
            assert reject


@settings(max_examples=300, deadline=None)
@given(p_values=p_value_lists, alpha=st.floats(min_value=1e-4, max_value=0.5))
def test_holm_adjusted_properties(p_values: list[float], alpha: float) -> None:
    adjusted = holm_adjusted(p_values)
    assert len(adjusted) == len(p_values)
    assert all(type(a) is float for a in adjusted)
    assert all(p <= a <= 1.0 for p, a in zip(p_values, adjusted, strict=True))
    # monotone: ordering of the raw p-values is preserved (weakly)
    for i, pi in enumerate(p_values):
        for j, pj in enumerate(p_values):
            if pi <= pj:
                assert adjusted[i] <= adjusted[j]
    assert holm(p_values, alpha) == [a <= alpha for a in adjusted]


def test_holm_worked_example() -> None:
    p_values = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    assert holm_adjusted(p_values) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm(p_values, 0.05) == [True, False, False, True]
    assert holm(p_values, 0.06) == [True, True, True, True]
    assert holm([], 0.05) == []
    assert holm_adjusted([0.9, 0.8]) == [1.0, 1.0]


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.62, 0.9])
def test_two_sided_interval_coverage(p: float) -> None:
    n, draws, alpha = 100, 2000, 0.05
    rng = np.random.default_rng(20240611)
    ks = rng.binomial(n, p, size=draws)
    interval = {k: clopper_pearson(k, n, alpha) for k in range(n + 1)}
    covered = sum(interval[int(k)][0] <= p <= interval[int(k)][1] for k in ks)
    sigma = math.sqrt((1 - alpha) * alpha / draws)
    assert covered / draws >= 1 - alpha - 3 * sigma


# --------------------------------------------------------------------------------------------
# held_out_pairs_to_decide
# --------------------------------------------------------------------------------------------


def _excludes(k: int, n: int, pairs: int, epsilon: float, alpha: float) -> bool:
    """The CP bound at ``pairs`` pairs and the same accuracy k / n excludes the threshold."""
    threshold = accuracy_threshold(epsilon)
    if k / n > threshold:
        return clopper_pearson_lower(k * pairs // n, pairs, alpha) > threshold
    return clopper_pearson_upper(-(-k * pairs // n), pairs, alpha) < threshold


def _needed(k: int, n: int, epsilon: float, alpha: float) -> int:
    needed = held_out_pairs_to_decide(k, n, epsilon, alpha)
    assert isinstance(needed, int)
    return needed


def test_pairs_to_decide_none_at_threshold() -> None:
    assert held_out_pairs_to_decide(50, 100, 0.0, 0.05) is None
    assert held_out_pairs_to_decide(3, 5, 0.2, 0.05) is None
    assert held_out_pairs_to_decide(0, 0, 0.1, 0.05) is None
    # a gap far too small to close within the cap
    assert held_out_pairs_to_decide(500_001, 1_000_000, 0.0, 0.05) is None


@pytest.mark.parametrize(("n", "epsilon", "alpha"), [(100, 0.0, 0.05), (60, 0.2, 0.01)])
def test_pairs_to_decide_decreasing_in_gap(n: int, epsilon: float, alpha: float) -> None:
    threshold = accuracy_threshold(epsilon)
    above = [k for k in range(n + 1) if k / n > threshold]
    below = [k for k in range(n + 1) if k / n < threshold][::-1]
    for ks in (above, below):  # each ordered by increasing gap
        needed = [_needed(k, n, epsilon, alpha) for k in ks]
        assert needed == sorted(needed, reverse=True), needed
        assert needed[0] > n  # the smallest gap is not decisive yet
    # also in epsilon, at fixed counts
    needed_eps = [_needed(30, 40, eps, 0.05) for eps in (0.4, 0.3, 0.2, 0.0)]
    assert needed_eps == sorted(needed_eps, reverse=True), needed_eps


@pytest.mark.parametrize(
    ("k", "n", "epsilon", "alpha"),
    [
        (55, 100, 0.0, 0.05),
        (52, 100, 0.0, 0.05),
        (45, 100, 0.0, 0.01),
        (7, 10, 0.3, 0.05),
        (1, 1, 0.0, 0.05),
        (0, 3, 0.0, 0.05),
        (27, 40, 0.2, 0.05 / 3),
        (190, 200, 0.85, 0.01),
        (5001, 10000, 0.0, 0.05),
    ],
)
def test_pairs_to_decide_consistent(k: int, n: int, epsilon: float, alpha: float) -> None:
    assert not _excludes(k, n, n, epsilon, alpha)  # the current n is not decisive
    needed = _needed(k, n, epsilon, alpha)
    assert needed >= n + 1
    assert _excludes(k, n, needed, epsilon, alpha)


def test_pairs_to_decide_returns_n_when_already_decisive() -> None:
    assert _excludes(80, 100, 100, 0.0, 0.05)
    assert held_out_pairs_to_decide(80, 100, 0.0, 0.05) == 100
    assert held_out_pairs_to_decide(10, 100, 0.0, 0.05) == 100


@settings(max_examples=150, deadline=None)
@given(
    kn=counts(max_n=300),
    epsilon=st.floats(min_value=0.0, max_value=0.95),
    alpha=st.floats(min_value=1e-4, max_value=0.2),
)
def test_pairs_to_decide_property(kn: tuple[int, int], epsilon: float, alpha: float) -> None:
    k, n = kn
    needed = held_out_pairs_to_decide(k, n, epsilon, alpha)
    if k / n == accuracy_threshold(epsilon):
        assert needed is None
        return
    if needed is None:
        return
    if _excludes(k, n, n, epsilon, alpha):
        assert needed == n
    else:
        assert needed >= n + 1
        assert _excludes(k, n, needed, epsilon, alpha)


# --------------------------------------------------------------------------------------------
# Invalid arguments
# --------------------------------------------------------------------------------------------


ALPHA = "alpha must lie strictly between 0 and 1"
EPSILON = "epsilon must lie in"
COUNT_K = "k \\(correct identifications\\) must satisfy"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: accuracy_threshold(-0.1), EPSILON),
        (lambda: accuracy_threshold(1.0), EPSILON),
        (lambda: accuracy_threshold(math.nan), EPSILON),
        (lambda: to_advantage(1.5), "accuracy must lie in"),
        (lambda: binomial_p_value(5, 4, 0.5), COUNT_K),
        (lambda: binomial_p_value(-1, 4, 0.5), COUNT_K),
        (lambda: binomial_p_value(0, -1, 0.5), "n \\(the number of held-out pairs\\)"),
        (lambda: binomial_p_value(1, 4, 1.5), "p0 must lie in"),
        (lambda: binomial_p_value(1, 4, -0.1), "p0 must lie in"),
        (
            lambda: binomial_p_value(1.5, 4, 0.5),  # type: ignore[arg-type]
            "must be integers",
        ),
        (lambda: clopper_pearson(1, 4, 0.0), ALPHA),
        (lambda: clopper_pearson(1, 4, 1.0), ALPHA),
        (lambda: clopper_pearson_lower(1, 4, -0.5), ALPHA),
        (lambda: clopper_pearson_upper(1, 4, 2.0), ALPHA),
        (lambda: clopper_pearson_upper(6, 4, 0.05), COUNT_K),
        (lambda: holm([0.1, 1.2], 0.05), "every p-value must lie in"),
        (lambda: holm([0.1], 0.0), ALPHA),
        (lambda: holm_adjusted([math.nan]), "every p-value must lie in"),
        (lambda: held_out_pairs_to_decide(1, 4, 1.0, 0.05), EPSILON),
        (lambda: held_out_pairs_to_decide(1, 4, 0.1, 1.0), ALPHA),
        (lambda: held_out_pairs_to_decide(5, 4, 0.1, 0.05), COUNT_K),
    ],
)
def test_invalid_arguments_raise(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


ORIGINAL_NAMES = (
    "MAX_PAIRS_TO_DECIDE",
    "accuracy_threshold",
    "binomial_p_value",
    "clopper_pearson",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "held_out_pairs_to_decide",
    "holm",
    "holm_adjusted",
    "mean_upper_bound",
    "queries_bound_from_tv",
    "to_advantage",
    "tv_terms",
)
"""The public names of the single-module pytest_bbi.stats that callers still import from it (the
normal-mixture sequence and the 1 − (1 − δ)² route were removed with the second engine)."""


def test_every_name_of_the_single_module_is_still_exported() -> None:
    for name in ORIGINAL_NAMES:
        assert name in stats.__all__
        assert getattr(stats, name) is not None
    for name in stats.__all__:
        assert hasattr(stats, name), name


def test_package_is_pure() -> None:
    """Statistics only: numpy and scipy, nothing from the rest of the plugin, no test or ML
    framework; and every module stays small enough to read."""
    package = Path(stats.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) > 5
    for module in modules:
        text = module.read_text(encoding="utf-8")
        for forbidden in ("import pytest", "import torch", "import transformers", "sklearn"):
            assert forbidden not in text, module.name
        imports = re.findall(r"^\s*(?:from|import) (pytest_bbi[\w.]*)", text, re.MULTILINE)
        assert all(name.startswith("pytest_bbi.stats") for name in imports), module.name
        assert len(text.splitlines()) <= 500, module.name
