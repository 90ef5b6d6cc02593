"""Argument validation shared by the statistics modules: clear errors for out-of-range inputs."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from typing import SupportsIndex


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """``alpha`` as a float strictly between 0 and 1, or a ValueError naming it."""
    value = float(alpha)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return value


def check_epsilon(epsilon: float) -> float:
    """ε as a float in [0, 1), or a ValueError."""
    value = float(epsilon)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"epsilon must lie in [0, 1), got {value!r}")
    return value


def check_probability(value: float, name: str) -> float:
    """A probability as a float in [0, 1] (NaN rejected), or a ValueError naming it."""
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {number!r}")
    return number


def check_counts(k: SupportsIndex, n: SupportsIndex) -> tuple[int, int]:
    """(k, n) as ints with 0 ≤ k ≤ n, or a ValueError."""
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


def check_positive_int(value: SupportsIndex, name: str) -> int:
    """An int ≥ 1, or a ValueError naming it."""
    try:
        number = operator.index(value)
    except TypeError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {number}")
    return number


def check_looks(looks: Sequence[SupportsIndex]) -> tuple[int, ...]:
    """A look schedule: cumulative held-out pairs, positive and strictly increasing."""
    try:
        schedule = tuple(operator.index(n) for n in looks)
    except TypeError as exc:
        raise ValueError(f"looks must be integers, got {looks!r}") from exc
    if not schedule:
        raise ValueError("looks must name at least one look (cumulative held-out pairs)")
    if schedule[0] < 1 or any(b <= a for a, b in itertools.pairwise(schedule)):
        raise ValueError(
            f"looks must be cumulative held-out pairs, >= 1 and strictly increasing, "
            f"got {schedule!r}"
        )
    return schedule


def check_path(looks: tuple[int, ...], counts: Sequence[SupportsIndex]) -> tuple[int, ...]:
    """Cumulative correct counts at the first len(counts) looks, consistent with ``looks``."""
    try:
        path = tuple(operator.index(k) for k in counts)
    except TypeError as exc:
        raise ValueError(f"counts must be integers, got {counts!r}") from exc
    if not 1 <= len(path) <= len(looks):
        raise ValueError(
            f"counts must give the cumulative correct count at looks 1..τ with "
            f"1 <= τ <= {len(looks)}, got {len(path)} counts"
        )
    previous_n = previous_k = 0
    for n, k in zip(looks, path, strict=False):
        if not previous_k <= k <= previous_k + (n - previous_n):
            raise ValueError(
                f"counts {path!r} are not cumulative correct counts for looks {looks!r}: "
                f"each count must lie between the previous one and it plus the new pairs"
            )
        previous_n, previous_k = n, k
    return path


def check_finite_values(values: Sequence[float], bound: float) -> list[float]:
    """Observations as floats in [0, bound], or a ValueError."""
    observed = [float(v) for v in values]
    for value in observed:
        if not 0.0 <= value <= bound:
            raise ValueError(f"every value must lie in [0, {bound!r}], got {value!r}")
    return observed


def check_bound(bound: float) -> float:
    """The upper end B of the observations' range: finite and > 0."""
    value = float(bound)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(
            f"bound (the largest possible value) must be finite and > 0, got {bound!r}"
        )
    return value
