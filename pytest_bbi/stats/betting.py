"""Anytime-valid one-sided betting confidence bounds on a bounded mean, for weighted pairs.

Under adaptive acquisition a held-out pair on prompt x is drawn with a known propensity π_r(x)
in round r, while the verdict must speak for the prompt distribution D. Weighting the pair's
correctness Z ∈ {0, 1} by d(x)/π_r(x) gives W = Z·d(x)/π_r(x) ∈ [0, B], B = max d/π, whose
conditional mean given the past is the accuracy under D whatever the propensities were, but
whose distribution changes from round to round and is far from binomial. These bounds need only
that: values in [0, B] with conditional means given the past.

Construction (Waudby-Smith & Ramdas 2023, "Estimating means of bounded random variables by
betting", J. R. Stat. Soc. B 86(1)): scale to x = W/B ∈ [0, 1]; for a candidate mean m the
capital K_t(m) = Π_{i≤t} (1 + λ_i(m)·(x_i − m)) bets that the mean exceeds m, with a predictable
bet λ_i(m) = min(λ̃_i, c/m), c = ½, where λ̃_i is their predictable plug-in
sqrt(2 log(1/α) / (σ̂²_{i−1} · i · log(1 + i))) (or sqrt(2 log(1/α) / (σ̂²_{i−1} · N)) when
tuned for a planned horizon N), σ̂² a running variance estimate. If every conditional mean is at
most m, each factor has conditional mean at most 1, so K_t(m) is a nonnegative supermartingale
and Ville's inequality gives P(∃t: K_t(m) ≥ 1/α) ≤ α. Every factor decreases in m, so the
rejected means form an interval [0, L): L is an anytime-valid lower confidence bound, and taking
the largest capital so far makes it the running intersection over all t. The upper bound is the
same construction applied to B − W.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import SupportsIndex

import numpy as np

from pytest_bbi.stats._checks import check_alpha, check_bound, check_positive_int
from pytest_bbi.stats.binomial import Alternative, check_alternative

_BET_CAP = 0.5
"""c: the bet on a mean m is at most c/m, so no single observation loses more than c of the
capital (Waudby-Smith & Ramdas suggest ½ or ¾)."""

_BISECTION_STEPS = 45
"""Bisection steps on the scaled mean in [0, 1]: a resolution of 2⁻⁴⁵ ≈ 3·10⁻¹⁴ of the range."""


def _scaled(values: Sequence[float] | np.ndarray, bound: float) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(array)) or np.any(array < 0.0) or np.any(array > bound):
        raise ValueError(
            f"every value must lie in [0, bound={bound!r}] (for importance-weighted correctness "
            "the bound is the largest weight d(x)/π(x))"
        )
    return array / bound


def _plug_in_bets(x: np.ndarray, alpha: float, horizon: int | None) -> np.ndarray:
    """λ̃_i from x_1 … x_{i−1} only (predictable), before the cap c/m."""
    t = np.arange(1, x.size + 1, dtype=float)
    means = (0.5 + np.cumsum(x)) / (t + 1.0)
    variances = (0.25 + np.cumsum((x - means) ** 2)) / (t + 1.0)
    previous = np.concatenate(([0.25], variances[:-1]))
    scale = t * np.log1p(t) if horizon is None else np.full_like(t, float(horizon))
    return np.sqrt(2.0 * math.log(1.0 / alpha) / (previous * scale))


def _largest_log_capital(x: np.ndarray, bets: np.ndarray, mean: float) -> float:
    """The largest log K_t(mean) over t, for x and candidate mean scaled to [0, 1]."""
    if x.size == 0:
        return 0.0
    capped = bets if mean <= 0.0 else np.minimum(bets, _BET_CAP / mean)
    log_capital = np.cumsum(np.log1p(capped * (x - mean)))
    return max(0.0, float(log_capital.max()))


def _check_horizon(horizon: SupportsIndex | None) -> int | None:
    return None if horizon is None else check_positive_int(horizon, "horizon")


def _lower_scaled(x: np.ndarray, alpha: float, horizon: int | None) -> float:
    """The anytime lower confidence bound on the mean of x ∈ [0, 1]."""
    bets = _plug_in_bets(x, alpha, horizon)
    threshold = math.log(1.0 / alpha)
    if _largest_log_capital(x, bets, 0.0) < threshold:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if _largest_log_capital(x, bets, middle) >= threshold:
            low = middle
        else:
            high = middle
    return low


def betting_lower_bound(
    values: Sequence[float] | np.ndarray,
    alpha: float,
    *,
    bound: float = 1.0,
    horizon: SupportsIndex | None = None,
) -> float:
    """Anytime-valid lower confidence bound on a bounded mean (see the module docstring).

    P(∃t: L_t > μ) ≤ alpha whenever every value's conditional mean given the values before it
    is at most μ (a constant mean μ in particular), so the bound may be checked after every value
    or round and the game stopped whenever it is decisive.

    Args:
        values: the observations in order, each in [0, bound].
        alpha: one minus the confidence level, in (0, 1).
        bound: B, the largest possible value (the largest importance weight), > 0.
        horizon: the planned number of observations to tune the bets for, or None for bets that
            spread their power over all sample sizes.

    Returns:
        L_t after the last value, in [0, bound] (the running intersection over all earlier t);
        0.0 without values.

    Raises:
        ValueError: If an argument is out of range.
    """
    bound = check_bound(bound)
    x = _scaled(values, bound)
    return bound * _lower_scaled(x, check_alpha(alpha), _check_horizon(horizon))


def betting_upper_bound(
    values: Sequence[float] | np.ndarray,
    alpha: float,
    *,
    bound: float = 1.0,
    horizon: SupportsIndex | None = None,
) -> float:
    """Anytime-valid upper confidence bound on a bounded mean: P(∃t: U_t < μ) ≤ alpha.

    The guarantee holds when every value's conditional mean given the values before it is at
    least μ (for instance, importance-weighted correctness of a frozen adversary whose accuracy
    under D is μ). It is :func:`betting_lower_bound` applied to bound − value.

    Args:
        values: the observations in order, each in [0, bound].
        alpha: one minus the confidence level, in (0, 1).
        bound: B, the largest possible value, > 0.
        horizon: the planned number of observations to tune the bets for, or None.

    Returns:
        U_t after the last value, in [0, bound]; ``bound`` without values.

    Raises:
        ValueError: If an argument is out of range.
    """
    bound = check_bound(bound)
    x = _scaled(values, bound)
    return bound * (1.0 - _lower_scaled(1.0 - x, check_alpha(alpha), _check_horizon(horizon)))


def betting_p_value(
    values: Sequence[float] | np.ndarray,
    null_mean: float,
    *,
    alternative: Alternative = "greater",
    bound: float = 1.0,
    alpha: float = 0.05,
    horizon: SupportsIndex | None = None,
) -> float:
    """Anytime-valid p-value from the betting capital, by Ville's inequality.

    p_t = 1 / max_{s ≤ t} K_s(null_mean), capped at 1: under the null, P(∃t: p_t ≤ a) ≤ a for
    every a, so it is valid at any stopping time and can enter Holm's step-down or an
    intersection–union test. With the same ``alpha``, ``horizon`` and ``bound``, p ≤ alpha
    exactly when :func:`betting_lower_bound` (``"greater"``) exceeds ``null_mean`` or
    :func:`betting_upper_bound` (``"less"``) falls below it, up to ties.

    Args:
        values: the observations in order, each in [0, bound].
        null_mean: the mean on the boundary of the null, in [0, bound].
        alternative: ``"greater"`` tests H0 "every conditional mean ≤ null_mean" (detect);
            ``"less"`` tests H0' "every conditional mean ≥ null_mean" (certify).
        bound: B, the largest possible value, > 0.
        alpha: the level the bets are tuned for, in (0, 1) (the p-value is valid at every level).
        horizon: the planned number of observations to tune the bets for, or None.

    Returns:
        The p-value, in (0, 1].

    Raises:
        ValueError: If an argument is out of range.
    """
    bound = check_bound(bound)
    x = _scaled(values, bound)
    null = float(null_mean)
    if not 0.0 <= null <= bound:
        raise ValueError(f"null_mean must lie in [0, bound={bound!r}], got {null_mean!r}")
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    if side == "less":
        x, scaled_null = 1.0 - x, 1.0 - null / bound
    else:
        scaled_null = null / bound
    if scaled_null >= 1.0:
        return 1.0
    bets = _plug_in_bets(x, alpha, _check_horizon(horizon))
    log_capital = _largest_log_capital(x, bets, scaled_null)
    return min(1.0, math.exp(-log_capital))
