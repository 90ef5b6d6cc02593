"""The fallback threshold's test: one unit per prompt, a fixed grid, a fallback procedure.

A threshold t serves the prompts whose student confidence is at least t. Its hypothesis H0(t)
is "the served prompts agree with the teacher less than the target": in absolute terms, the
mean agreement of the served prompts is below ``target``; relative to the teacher, the served
prompts' agreement is below ``target`` times the teacher's agreement with itself on the same
prompts. A threshold is *shown* when H0(t) is rejected; the report recommends the lowest
threshold shown (the one that serves most).

- **Units.** Each distinct prompt is one unit: the answers to a repeated prompt are not
  independent (under greedy decoding they are identical), so counting them as separate rows
  overstates the evidence. A unit's confidence is the mean of its answers' confidences (its
  answer's, when it has one or they are all the same) and its agreement the share of its
  answers that agree.
- **The grid**, fixed from the confidences alone, never from the agreements: the first
  threshold serves the fewest prompts that could show the target at all (a perfect record of
  n prompts must be able to reject H0, e.g. 32 prompts for a target of 0.9 at 0.7·α = 0.035),
  then the thresholds that serve 10%, 20%, …, 100% of the prompts (those serving more than
  the first), tested from the most confident down.
- **The fallback procedure** (Wiens 2003; Wiens & Dmitrienko 2005), a fixed-sequence test that
  does not stop at the first failure: the first threshold is tested at :data:`FIRST_SHARE`·α,
  the one serving every prompt has (1 − :data:`FIRST_SHARE`)·α of its own, and a threshold
  that is shown passes its level on to the next. A fixed sequence from the 10%-coverage point
  (the stats module's default) has little power when agreement does not depend on confidence
  (its first, small step fails and stops it) and none for a small separable set of 200 prompts
  (20 prompts cannot show 0.9); starting where a perfect record can pass keeps the separable
  case, and the level reserved for serving everything keeps the flat case.
- **The bound** is the Chernoff (relative-entropy) lower bound on a mean of independent values
  in [0, 1] (:func:`~pytest_bbi.stats.mean_lower_bound`; as tight as Clopper–Pearson when every
  served prompt agrees), valid for agreement shares as well as 0/1 agreements and for prompts
  whose agreement probabilities differ. Relative to the teacher, the level is split in two: a
  lower bound L on the served prompts' agreement with the teacher and an upper bound U on the
  teacher's agreement with itself on the same prompts, each at half the level; the relative
  agreement is then at least L / U (capped at 1), and a threshold is shown when L / U reaches
  the target (a union bound: if both hold, a relative agreement below the target cannot pass).

**What the guarantee speaks for.** Given the student's confidences, the prompts' agreements
are independent, each with a mean set by its confidence, so each test has the level it is
given and the fallback procedure keeps the chance of recommending any threshold whose served
prompts truly agree below the target at most α. "Truly" is the agreement probability averaged
over the served prompts: for fresh prompts from the same distribution whose confidences are
spread like these, up to the gap between neighbouring confidences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_bbi.stats import mean_lower_bound, mean_upper_bound
from pytest_bbi.verdict import OperatingPoint

FIRST_SHARE = 0.7
"""The share of α spent on the first (most confident) threshold; the rest is reserved for the
threshold that serves every prompt."""

COVERAGE_STEPS = 10
"""After the first threshold, the thresholds that serve 10%, 20%, …, 100% of the prompts."""


@dataclass(frozen=True)
class Unit:
    """One prompt of the calibration: the unit of the threshold's test.

    Attributes:
        confidence: the mean of the student's confidences on its answers.
        agreement: the share of its answers that agree with the teacher's, in [0, 1].
        self_agreement: the share of its pairs of teacher answers that agree with each other,
            in [0, 1], for a target relative to the teacher; otherwise ``None``.
    """

    confidence: float
    agreement: float
    self_agreement: float | None = None


def lower_bound(served: Sequence[Unit], level: float, *, relative: bool) -> float:
    """The lower confidence bound, at ``level``, on what the target is compared with.

    Args:
        served: the units a threshold serves, at least one.
        level: the error level, in (0, 1).
        relative: whether the target is relative to the teacher's agreement with itself.

    Returns:
        The Chernoff lower bound on the served units' mean agreement; relative to the teacher,
        the lower bound on their agreement (at ``level``/2) over the upper bound on the
        teacher's agreement with itself (at ``level``/2), capped at 1.
    """
    agreement = [unit.agreement for unit in served]
    if not relative:
        return mean_lower_bound(agreement, level)
    lower = mean_lower_bound(agreement, level / 2)
    upper = mean_upper_bound([unit.self_agreement or 0.0 for unit in served], level / 2)
    return min(1.0, lower / upper)


def first_served(target: float, level: float, *, relative: bool, total: int) -> int:
    """The fewest units whose perfect record shows ``target`` at ``level`` (at most ``total``).

    A perfect record: every served answer agrees with the teacher's (and, relative to the
    teacher, every pair of teacher answers agrees too).
    """
    if target >= 1.0:
        return total  # no finite record shows an agreement of 1
    perfect = Unit(confidence=0.0, agreement=1.0, self_agreement=1.0 if relative else None)
    # the Chernoff bound of n values 1 at level λ is λ^(1/n), like Clopper–Pearson's
    count = max(1, math.ceil(math.log(level / 2 if relative else level) / math.log(target)))
    while count > 1 and lower_bound([perfect] * (count - 1), level, relative=relative) >= target:
        count -= 1
    while count < total and lower_bound([perfect] * count, level, relative=relative) < target:
        count += 1
    return min(count, total)


def served_counts(total: int, first: int) -> list[int]:
    """The grid: ``first`` units, then those serving 10%, 20%, …, 100% of ``total`` beyond it."""
    steps = (math.ceil(total * step / COVERAGE_STEPS) for step in range(1, COVERAGE_STEPS + 1))
    return [first, *sorted({count for count in steps if count > first})]


def operating_points(
    units: Sequence[Unit], *, target: float, alpha: float, relative: bool
) -> tuple[OperatingPoint, ...]:
    """Test the grid's thresholds by the fallback procedure, most confident first.

    Args:
        units: one unit per prompt.
        target: the agreement (or, relative, the share of the teacher's own) to show.
        alpha: the family-wise error level.
        relative: whether the target is relative to the teacher's agreement with itself.

    Returns:
        Every threshold of the grid, least confident first (as the report lists them), each
        with the level it was tested at (0 when none reached it: its bound is then 0) and its
        lower bound; a threshold is shown when its bound reaches ``target``.
    """
    if not units:
        return ()
    ordered = sorted(units, key=lambda unit: -unit.confidence)
    total = len(ordered)
    first = first_served(target, FIRST_SHARE * alpha, relative=relative, total=total)
    counts = served_counts(total, first)
    thresholds = list(dict.fromkeys(ordered[count - 1].confidence for count in counts))
    own = [FIRST_SHARE * alpha] + [0.0] * (len(thresholds) - 1)
    own[-1] += (1.0 - FIRST_SHARE) * alpha
    points: list[OperatingPoint] = []
    carried = 0.0
    for threshold, share in zip(thresholds, own, strict=True):
        served = [unit for unit in ordered if unit.confidence >= threshold]
        level = carried + share
        lower = lower_bound(served, level, relative=relative) if level > 0 else 0.0
        agreeing = math.fsum(unit.agreement for unit in served)
        points.append(
            OperatingPoint(
                threshold=threshold,
                coverage=len(served) / total,
                served=len(served),
                agreeing=agreeing,
                agreement=agreeing / len(served),
                lower=lower,
                level=level,
                teacher_agreement=math.fsum(unit.self_agreement or 0.0 for unit in served)
                / len(served)
                if relative
                else None,
            )
        )
        carried = level if level > 0 and lower >= target else 0.0
    return tuple(reversed(points))


def recommended(points: Sequence[OperatingPoint], target: float) -> OperatingPoint | None:
    """The lowest threshold shown to reach ``target`` (the one serving most), if any."""
    return next((point for point in points if point.level > 0 and point.lower >= target), None)
