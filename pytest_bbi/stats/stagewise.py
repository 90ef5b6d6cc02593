"""Operating characteristics, conditional power and the stage-wise point estimate of a design."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import SupportsIndex

import numpy as np

from pytest_bbi.stats._checks import check_looks, check_path, check_probability
from pytest_bbi.stats.sequential import _BISECTION_STEPS, GroupSequentialDesign, _step


@dataclass(frozen=True)
class OperatingCharacteristics:
    """What a design does at one true accuracy, computed exactly by dynamic programming.

    Attributes:
        accuracy: the true accuracy of every pair.
        power: the probability of rejecting the design's null hypothesis.
        expected_pairs: the expected held-out pairs scored before stopping.
        stop_probabilities: per look, the probability of stopping there (by crossing, by the
            futility design, or at the last look); they add up to 1.
    """

    accuracy: float
    power: float
    expected_pairs: float
    stop_probabilities: tuple[float, ...]


def _regions(
    looks: tuple[int, ...], designs: Sequence[GroupSequentialDesign]
) -> tuple[list[int], list[int]]:
    """Per look, the lowest count that stops upward and the highest that stops downward."""
    upper = [n + 1 for n in looks]
    lower = [-1 for _ in looks]
    for design in designs:
        if design.looks != looks:
            raise ValueError(
                f"a design has looks {design.looks!r}, not {looks!r}: every design must share "
                "the cell's schedule of looks"
            )
        for index, boundary in enumerate(design.boundaries):
            if design.alternative == "greater":
                upper[index] = min(upper[index], boundary)
            else:
                lower[index] = max(lower[index], boundary)
    return upper, lower


def operating_characteristics(
    design: GroupSequentialDesign,
    accuracy: float,
    *,
    futility: GroupSequentialDesign | None = None,
) -> OperatingCharacteristics:
    """Power, expected pairs and stopping probabilities of a design at a true accuracy (exact).

    Args:
        design: the efficacy design.
        accuracy: the true accuracy of every pair, in [0, 1].
        futility: an optional design of the opposite alternative on the same looks, whose
            crossing stops the cell without rejecting (a non-binding futility stop: where both
            cross at one look, the efficacy rejection stands). It lowers the power and the
            expected pairs; the level is unaffected.

    Returns:
        The operating characteristics; ``power`` at an accuracy on the null side is at most
        ``design.spent[-1]``.

    Raises:
        ValueError: If the accuracy is out of range or the futility design does not fit.
    """
    accuracy = check_probability(accuracy, "accuracy")
    if futility is not None and futility.alternative == design.alternative:
        raise ValueError("the futility design must test the opposite alternative of the design")
    upper, lower = _regions(design.looks, [design] if futility is None else [design, futility])
    alive = np.ones(1)
    previous_n = 0
    power = expected = 0.0
    stops: list[float] = []
    for index, n in enumerate(design.looks):
        alive = np.convolve(alive, _step(n - previous_n, accuracy))
        upward, downward = slice(upper[index], None), slice(0, lower[index] + 1)
        efficacy, other = (
            (upward, downward) if design.alternative == "greater" else (downward, upward)
        )
        rejected = float(alive[efficacy].sum())
        alive[efficacy] = 0.0  # where both cross at one look, the rejection stands
        stopped = float(alive[other].sum())
        alive[other] = 0.0
        power += rejected
        stop = rejected + stopped
        if index + 1 == len(design.looks):
            stop += float(alive.sum())
        stops.append(stop)
        expected += stop * n
        previous_n = n
    return OperatingCharacteristics(
        accuracy=accuracy,
        power=min(1.0, power),
        expected_pairs=expected,
        stop_probabilities=tuple(stops),
    )


def conditional_power(
    design: GroupSequentialDesign, counts: Sequence[SupportsIndex], accuracy: float
) -> float:
    """The probability of crossing at a later look, given the counts so far (exact).

    A non-binding futility rule may stop a cell whose conditional power at a plausible accuracy
    is low; the design's level is unaffected (see :mod:`pytest_bbi.stats.sequential`).

    Args:
        design: the design.
        counts: cumulative correct counts at looks 1..τ.
        accuracy: the accuracy assumed for the remaining pairs, in [0, 1].

    Returns:
        1.0 when the counts have already crossed; 0.0 at the last look without a crossing;
        otherwise P(crossing at a look after τ | k_τ).

    Raises:
        ValueError: If an argument is out of range or the counts do not fit the looks.
    """
    path = check_path(design.looks, counts)
    accuracy = check_probability(accuracy, "accuracy")
    if design.rejects(path):
        return 1.0
    alive = np.zeros(path[-1] + 1)
    alive[-1] = 1.0
    previous_n = design.looks[len(path) - 1]
    crossing = 0.0
    for index in range(len(path), len(design.looks)):
        n, boundary = design.looks[index], design.boundaries[index]
        alive = np.convolve(alive, _step(n - previous_n, accuracy))
        region = (
            slice(boundary, None) if design.alternative == "greater" else slice(0, boundary + 1)
        )
        crossing += float(alive[region].sum())
        alive[region] = 0.0
        previous_n = n
    return min(1.0, crossing)


def median_unbiased_accuracy(
    looks: Sequence[SupportsIndex],
    counts: Sequence[SupportsIndex],
    designs: Sequence[GroupSequentialDesign] = (),
) -> float:
    """Median-unbiased estimate of the accuracy after a (possibly early) stop, by stage-wise order.

    k/n after an early stop for efficacy overstates the accuracy (the game stopped *because*
    the count ran high). The stage-wise ordering of the sample space (Jennison & Turnbull 2000,
    ch. 8) ranks an upward exit at an earlier look above every path that went on, a downward
    exit below them, and outcomes at the same look by their count. The game stops at look c, the
    first look where one of ``designs`` crossed, or the last look given; the event "at least as
    high as observed in this ordering" is increasing in every pair's outcome, so its probability
    rises with the accuracy, and the estimate is the accuracy p̂ at which P(higher) +
    ½·P(same) = ½ (a mid-p median). It is median-unbiased, up to discreteness, when the game
    stops by these designs or at a look fixed in advance; when other cells decide the stop it is
    a bias-adjusted estimate without that guarantee. With no designs it is the mid-p median
    estimate of k_τ/n_τ.

    Args:
        looks: the cumulative held-out pairs per look.
        counts: cumulative correct counts at looks 1..τ.
        designs: the designs that could stop the cell (e.g. its detect design, and the certify
            design used for a futility stop), all on ``looks``.

    Returns:
        The estimate, in [0, 1].

    Raises:
        ValueError: If the counts do not fit the looks or a design has other looks.
    """
    schedule = check_looks(looks)
    path = check_path(schedule, counts)
    upper, lower = _regions(schedule, designs)
    stop = next(
        (i for i, k in enumerate(path) if k >= upper[i] or k <= lower[i]),
        len(path) - 1,
    )
    observed = path[stop]

    def higher(accuracy: float) -> float:
        alive = np.ones(1)
        previous_n = 0
        above = 0.0
        for index in range(stop + 1):
            alive = np.convolve(alive, _step(schedule[index] - previous_n, accuracy))
            previous_n = schedule[index]
            if index < stop:
                above += float(alive[upper[index] :].sum())
                alive[upper[index] :] = 0.0
                alive[: lower[index] + 1] = 0.0
        return above + float(alive[observed + 1 :].sum()) + 0.5 * float(alive[observed])

    low, high = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if higher(middle) < 0.5:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0
