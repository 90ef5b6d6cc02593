"""The planner: the queries a run needs for its goal, and the advantage a run could detect."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pytest_bbi import stats
from pytest_bbi.errors import BudgetError
from pytest_bbi.game.acquisition import WEIGHT_BOUND, held_out_looks

POWER = 0.8
"""The power ``detectable`` and the under-powered mark refer to."""

MIN_DETECT_TARGET = 0.05
"""The smallest advantage a detect pass is asked to be able to see: 2ε, but at least this."""

WEIGHTED_PATHS = 400
"""Simulated games behind the detectable advantage of an importance-weighted game."""


def detect_target(epsilon: float) -> float:
    """The advantage a detect pass should have been able to find: max(2ε, 0.05), at most 1.

    A pass whose ``detectable`` exceeds it is reported as under-powered, and the planner's
    default goal in detect mode is to find it.
    """
    return min(1.0, max(2.0 * epsilon, MIN_DETECT_TARGET))


def held_out(queries: int, train_fraction: float) -> int:
    """The held-out pairs of one bucket's queries (see :func:`acquisition.schedule`)."""
    return queries - min(queries - 1, max(1, math.floor(queries * train_fraction)))


@dataclass(frozen=True)
class Plan:
    """The queries a run needs, and what the planner assumed to find them.

    Attributes:
        queries: the total queries q to put in ``Budget(queries=...)`` (a multiple of
            ``buckets``), or None when no q up to the planner's limit reaches the power.
        held_out: the held-out pairs per cell at that q (None with ``queries``).
        mode: ``"detect"`` or ``"certify"``.
        epsilon: ε.
        detect: for detect, the true advantage to be found (in one cell); None for certify.
        power: the probability asked for.
        alpha: the run's α (of the adversaries' family, after any split for a certificate).
        cells: buckets × adversaries.
        cell_alpha: the level each cell is tested at: α/cells for detect (the first step of
            Holm's step-down, so the run's power is at least this), α for certify
            (intersection–union: no division).
        cell_power: the power asked of each cell: ``power`` for detect; 1 − (1 − power)/cells
            for certify, so that every cell certifies at once with probability ≥ ``power``
            whatever their dependence.
        sequential: whether the run plays planned rounds (group-sequential designs).
        train_fraction: the training share of every bucket's queries.
        assumptions: the same in words.
    """

    queries: int | None
    held_out: int | None
    mode: Literal["detect", "certify"]
    epsilon: float
    detect: float | None
    power: float
    alpha: float
    cells: int
    cell_alpha: float
    cell_power: float
    sequential: bool
    train_fraction: float
    assumptions: str


def _looks(queries: int, train_fraction: float) -> tuple[int, ...]:
    return tuple(held_out_looks(held_out(queries, train_fraction), sequential=True))


def plan(
    *,
    epsilon: float,
    detect: float | None = None,
    power: float = POWER,
    alpha: float = 0.05,
    buckets: int = 1,
    adversaries: int = 1,
    mode: Literal["detect", "certify"] = "detect",
    sequential: bool = False,
    train_fraction: float = 0.5,
) -> Plan:
    """The queries a run needs: to find an advantage (detect) or to certify a close student.

    Detect: the smallest q at which a student whose advantage is ``detect`` in one cell (one
    bucket, one adversary) fails the run with probability ≥ ``power``. Certify: the smallest q
    at which an identical pair (every cell at accuracy ½) is certified with probability
    ≥ ``power``. Queries are split equally over the buckets and, in each, ``train_fraction``
    of them train; a sequential run uses the round schedule of :class:`~pytest_bbi.Budget`.

    Args:
        epsilon: ε, in [0, 1) ((0, 1) for certify).
        detect: the advantage to find, in (ε, 1]; default :func:`detect_target`, max(2ε, 0.05).
        power: the probability asked for, in (0, 1).
        alpha: the run's α, in (0, 1). In certify mode with white-box models α is split with
            the certificate: plan with half of it.
        buckets: the capability buckets, ≥ 1.
        adversaries: the adversaries that play, ≥ 1 (the default class is 3, or 4 with
            white-box models).
        mode: ``"detect"`` or ``"certify"``.
        sequential: whether the run plays planned rounds (``Budget(sequential=True)``).
        train_fraction: the training share, in (0, 1).

    Returns:
        The plan: its ``queries`` and the assumptions behind them.

    Raises:
        BudgetError: for an argument out of range; the message names it.
    """
    goal = detect_target(epsilon) if detect is None and mode == "detect" else detect
    cells = buckets * adversaries if buckets >= 1 and adversaries >= 1 else 0
    try:
        queries = stats.queries_needed(
            epsilon,
            mode=mode,
            detect=goal if mode == "detect" else None,
            power=power,
            alpha=alpha,
            buckets=buckets,
            adversaries=adversaries,
            train_fraction=train_fraction,
            looks=(lambda q: _looks(q, train_fraction)) if sequential else None,
        )
    except ValueError as error:
        raise BudgetError(f"plan(...): {error}") from error
    certify = mode == "certify"
    cell_alpha = alpha if certify else alpha / cells
    cell_power = 1.0 - (1.0 - power) / cells if certify else power
    rounds = (
        "planned rounds (group-sequential, O'Brien–Fleming spending)"
        if sequential
        else ("one fixed-n round")
    )
    goal_text = (
        f"an identical pair (every cell at advantage 0) certified at ε = {epsilon:g}, each of "
        f"the {cells} cells at level {cell_alpha:g} (intersection–union) with power "
        f"{cell_power:.3g}, so all at once with probability ≥ {power:g}"
        if certify
        else f"an advantage of {goal:g} in one of the {cells} cells found by its test at level "
        f"{cell_alpha:.3g} (Holm's first step) with probability ≥ {power:g}"
    )
    return Plan(
        queries=queries,
        held_out=None if queries is None else held_out(queries // buckets, train_fraction),
        mode=mode,
        epsilon=epsilon,
        detect=None if certify else goal,
        power=power,
        alpha=alpha,
        cells=cells,
        cell_alpha=cell_alpha,
        cell_power=cell_power,
        sequential=sequential,
        train_fraction=train_fraction,
        assumptions=f"{goal_text}; {buckets} bucket(s) sharing the queries equally, "
        f"{train_fraction:g} of each bucket's queries training; {rounds}.",
    )


def detectable(
    looks: tuple[int, ...], *, epsilon: float, alpha: float, cells: int, weighted: bool = False
) -> float | None:
    """The smallest advantage one cell's test finds with power 0.8 (:data:`POWER`).

    Stratified games: exact (the fixed-n binomial test, or the group-sequential design on
    ``looks``), at level α/cells, Holm's first step, so the run's power is at least this.
    Importance-weighted games: the betting test at uniform propensities (a difference spread
    evenly over the prompts), by a seeded simulation of :data:`WEIGHTED_PATHS` games; a
    difference concentrated on a few prompts may need more.

    Args:
        looks: the cell's planned cumulative held-out pairs per look.
        epsilon: ε.
        alpha: the family's α.
        cells: the number of cells.
        weighted: whether the pairs are importance-weighted.

    Returns:
        The advantage, or None when not even advantage 1 would be found.
    """
    if weighted:
        return _weighted_detectable(looks[-1], epsilon, alpha / cells)
    return _detectable(looks, epsilon, alpha, cells)


@functools.lru_cache(maxsize=256)
def _detectable(looks: tuple[int, ...], epsilon: float, alpha: float, cells: int) -> float | None:
    return stats.detectable_advantage(
        looks[0] if len(looks) == 1 else looks,
        epsilon=epsilon,
        alpha=alpha,
        cells=cells,
        power=POWER,
    )


@functools.lru_cache(maxsize=64)
def _weighted_detectable(pairs: int, epsilon: float, level: float) -> float | None:
    p0 = stats.accuracy_threshold(epsilon)
    draws = np.random.default_rng(0).random((WEIGHTED_PATHS, pairs))

    def power_at(accuracy: float) -> float:
        found = [
            stats.betting_p_value(
                (row < accuracy).astype(float),
                p0,
                bound=WEIGHT_BOUND,
                alpha=level,
                horizon=pairs,
            )
            <= level
            for row in draws
        ]
        return sum(found) / len(found)

    if power_at(1.0) < POWER:
        return None
    low, high = p0, 1.0
    for _ in range(16):
        middle = (low + high) / 2.0
        if power_at(middle) >= POWER:
            high = middle
        else:
            low = middle
    return 2.0 * high - 1.0


@dataclass(frozen=True)
class Power:
    """What a run could have detected, and what it would take to detect the target.

    Attributes:
        detectable: per bucket, the smallest advantage its cells detect with power 0.8 (None
            when not even advantage 1 would be).
        target: per bucket, :func:`detect_target` of its ε.
        underpowered: whether some bucket's ``detectable`` exceeds its target.
        queries: the queries the planner says a run needs to detect every bucket's target
            with power 0.8 (None when not under-powered, or beyond the planner's reach).
    """

    detectable: dict[str, float | None]
    target: dict[str, float]
    underpowered: bool
    queries: int | None


def power_of(
    looks: Mapping[str, tuple[int, ...]],
    epsilons: Mapping[str, float],
    *,
    alpha: float,
    adversaries: int,
    train_fraction: float,
    weighted: bool,
) -> Power:
    """The detectable advantage per bucket and, for an under-powered run, the queries it needs.

    Args:
        looks: bucket → its planned cumulative held-out pairs per look.
        epsilons: bucket → its ε.
        alpha: the α of the adversaries' family.
        adversaries: the adversaries that play.
        train_fraction: the budget's training share.
        weighted: whether the pairs are importance-weighted (disagreement acquisition).

    Returns:
        The run's power.
    """
    cells = len(looks) * adversaries
    found = {
        bucket: detectable(
            schedule, epsilon=epsilons[bucket], alpha=alpha, cells=cells, weighted=weighted
        )
        for bucket, schedule in looks.items()
    }
    targets = {bucket: detect_target(epsilons[bucket]) for bucket in looks}
    short = [b for b, d in found.items() if d is None or d > targets[b]]
    needed: list[int | None] = [
        plan(
            epsilon=epsilons[bucket],
            detect=targets[bucket],
            alpha=alpha,
            buckets=len(looks),
            adversaries=adversaries,
            sequential=len(looks[bucket]) > 1,
            train_fraction=train_fraction,
        ).queries
        for bucket in short
    ]
    queries = None if not needed or None in needed else max(q for q in needed if q is not None)
    return Power(found, targets, bool(short), queries)
