"""Fixed-sequence threshold testing (Learn then Test) for a calibrated fallback threshold."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pytest_bbi.stats._checks import check_alpha, check_probability
from pytest_bbi.stats.binomial import clopper_pearson_lower, mean_lower_bound

DEFAULT_THRESHOLD_COUNT = 10
"""Without explicit thresholds, the confidences that serve 10%, 20%, …, 100% of the units."""


@dataclass(frozen=True)
class ThresholdTest:
    """One threshold of the sequence and its test of H0 "the served units agree below target".

    Attributes:
        threshold: the least confidence served.
        served: the units with confidence ≥ threshold.
        agreeing: their total agreement (a count for 0/1 agreements).
        agreement: the mean agreement of the served units.
        lower: the one-sided lower confidence bound on it, at level alpha (not divided).
        rejected: whether ``lower ≥ target``: the threshold is shown to serve enough agreement.
    """

    threshold: float
    served: int
    agreeing: float
    agreement: float
    lower: float
    rejected: bool


@dataclass(frozen=True)
class ThresholdSelection:
    """The outcome of fixed-sequence testing.

    Attributes:
        threshold: the lowest threshold whose test and every earlier one rejected (the one
            serving most), or None when the first test did not reject.
        tests: the thresholds tested, most confident first, up to the first non-rejection.
    """

    threshold: float | None
    tests: tuple[ThresholdTest, ...]


def per_prompt_rows(
    units: Sequence[Hashable], confidence: Sequence[float], agreement: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Collapse repeated rows to one row per unit (per distinct prompt), the independent unit.

    Answers to the same prompt are not independent (with deterministic decoding they are
    identical), so counting them as separate rows overstates the evidence. Each unit becomes one
    row: its mean confidence and its mean agreement (a share in [0, 1]).

    Args:
        units: the unit of each row, e.g. its prompt.
        confidence: the confidence of each row.
        agreement: each row's agreement, in [0, 1] (1/0 for agreed/disagreed).

    Returns:
        (confidences, agreements), one per unit in order of first appearance.

    Raises:
        ValueError: If the lists differ in length or an agreement is outside [0, 1].
    """
    if not len(units) == len(confidence) == len(agreement):
        raise ValueError(
            f"got {len(units)} units, {len(confidence)} confidences and {len(agreement)} "
            "agreements; give one of each per row"
        )
    sums: dict[Hashable, list[float]] = {}
    for unit, conf, agreed in zip(units, confidence, agreement, strict=True):
        total = sums.setdefault(unit, [0.0, 0.0, 0.0])
        total[0] += float(conf)
        total[1] += check_probability(agreed, "every agreement")
        total[2] += 1.0
    return (
        [conf / count for conf, _, count in sums.values()],
        [agreed / count for _, agreed, count in sums.values()],
    )


def _default_thresholds(confidence: Sequence[float]) -> list[float]:
    """The confidences serving 10%, 20%, …, 100% of the units, most confident first."""
    ordered = sorted(confidence, reverse=True)
    total = len(ordered)
    chosen: list[float] = []
    if not ordered:
        return chosen
    for step in range(1, DEFAULT_THRESHOLD_COUNT + 1):
        value = ordered[max(1, math.ceil(total * step / DEFAULT_THRESHOLD_COUNT)) - 1]
        if value not in chosen:
            chosen.append(value)
    return chosen


def fixed_sequence_threshold(
    confidence: Sequence[float],
    agreement: Sequence[float],
    *,
    target: float,
    alpha: float,
    thresholds: Sequence[float] | None = None,
) -> ThresholdSelection:
    """The lowest confidence threshold whose served units reach ``target``, by fixed sequence.

    Thresholds are tested from the most confident down, each at the full level alpha, and the
    testing stops at the first threshold whose H0 "mean agreement of the served units < target"
    is not rejected (fixed-sequence testing; the Learn-then-Test framework of Angelopoulos,
    Bates, Candès, Jordan & Lei 2021, "Learn then Test: calibrating predictive algorithms to
    achieve risk control"; Bates et al. 2021, "Distribution-free, risk-controlling prediction
    sets", J. ACM 68(6)). A wrong recommendation needs the first threshold in the sequence whose
    H0 is true to be rejected, which has probability at most alpha: the family-wise error is at
    most alpha without dividing alpha by the number of thresholds, so it is far more likely to
    recommend than a Bonferroni correction over the same thresholds.

    Each row must be an independent unit: collapse repeated prompts with
    :func:`per_prompt_rows` first. With 0/1 agreements the bound is the exact one-sided
    Clopper–Pearson bound; with fractional agreements (shares of a unit's answers) it is the
    Chernoff bound :func:`~pytest_bbi.stats.mean_lower_bound`, valid for independent values in
    [0, 1]. The guarantee speaks for fresh units from the same distribution when the
    thresholds are fixed in advance; the default thresholds are quantiles of the confidences
    only (never of the agreements), and then it speaks for the served units given their
    confidences.

    Args:
        confidence: one confidence per unit.
        agreement: one agreement per unit, in [0, 1].
        target: the agreement the served units must reach, in (0, 1].
        alpha: the error level, in (0, 1).
        thresholds: the thresholds to test (in any order; tested from the highest), or None for
            the confidences serving 10%, 20%, …, 100% of the units.

    Returns:
        The selection and the tests performed.

    Raises:
        ValueError: If an argument is out of range or the lists differ in length.
    """
    if len(confidence) != len(agreement):
        raise ValueError(
            f"got {len(confidence)} confidences and {len(agreement)} agreements; give one of "
            "each per unit"
        )
    target = float(target)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must lie in (0, 1], got {target!r}")
    alpha = check_alpha(alpha)
    rows = [
        (float(conf), check_probability(agreed, "every agreement"))
        for conf, agreed in zip(confidence, agreement, strict=True)
    ]
    binary = all(agreed in (0.0, 1.0) for _, agreed in rows)
    candidates = _default_thresholds([c for c, _ in rows]) if thresholds is None else thresholds
    tests: list[ThresholdTest] = []
    chosen: float | None = None
    for threshold in sorted({float(t) for t in candidates}, reverse=True):
        served = [agreed for conf, agreed in rows if conf >= threshold]
        if not served:
            continue
        total = math.fsum(served)
        if binary:
            lower = clopper_pearson_lower(round(total), len(served), alpha)
        else:
            lower = mean_lower_bound(served, alpha)
        rejected = lower >= target
        tests.append(
            ThresholdTest(
                threshold=threshold,
                served=len(served),
                agreeing=total,
                agreement=total / len(served),
                lower=lower,
                rejected=rejected,
            )
        )
        if not rejected:
            break
        chosen = threshold
    return ThresholdSelection(threshold=chosen, tests=tuple(tests))
