"""Fixed-sequence threshold testing: one row per prompt, each threshold at the full level."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from pytest_bbi.stats import (
    clopper_pearson_lower,
    fixed_sequence_threshold,
    mean_lower_bound,
    per_prompt_rows,
)

ALPHA = 0.05
TARGET = 0.9


def _ceiling(runs: int) -> float:
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


def test_repeated_prompts_count_once_and_flat_agreement_below_target_is_not_recommended() -> None:
    """1000 prompts asked 3 times each with deterministic answers (repeats agree alike) and
    agreement 0.895, just below the 0.9 target, whatever the confidence: any recommendation is
    wrong. Counted as 3000 independent rows it happens far above α; per prompt, at most α."""
    runs, prompts, repeats = 500, 1000, 3
    rng = np.random.default_rng(67)
    wrong_rows = wrong_units = 0
    units = np.repeat(np.arange(prompts), repeats)
    for _ in range(runs):
        confidence = rng.normal(size=prompts)[units]
        agreement = (rng.random(prompts) < 0.895).astype(float)[units]
        rows = fixed_sequence_threshold(confidence, agreement, target=TARGET, alpha=ALPHA)
        wrong_rows += rows.threshold is not None
        unit_confidence, unit_agreement = per_prompt_rows(
            units.tolist(), confidence.tolist(), agreement.tolist()
        )
        assert len(unit_confidence) == prompts
        per_unit = fixed_sequence_threshold(
            unit_confidence, unit_agreement, target=TARGET, alpha=ALPHA
        )
        wrong_units += per_unit.threshold is not None
    assert wrong_units / runs <= _ceiling(runs)
    assert wrong_rows / runs > 2 * _ceiling(runs)


def test_fixed_thresholds_control_wrong_recommendations_for_fresh_prompts() -> None:
    """Confidence c ~ U(0, 1); answers agree with probability 0.97 when c ≥ 0.5 and 0.544 below,
    so the served agreement is 0.97 at thresholds 0.5 … 0.9 and 0.899, just short of the 0.9
    target, at 0.4 (less below). Every threshold ≤ 0.4 is a wrong recommendation; the first
    of them is tested right after thresholds that pass easily, and is rejected at most α."""
    runs, units = 1000, 2000
    thresholds = [step / 10 for step in range(10)]
    rng = np.random.default_rng(71)
    wrong = right = 0
    for _ in range(runs):
        confidence = rng.random(units)
        agreeing = np.where(confidence >= 0.5, 0.97, 0.544)
        agreement = (rng.random(units) < agreeing).astype(float)
        selection = fixed_sequence_threshold(
            confidence, agreement, target=TARGET, alpha=ALPHA, thresholds=thresholds
        )
        wrong += selection.threshold is not None and selection.threshold <= 0.4
        right += selection.threshold == 0.5
    assert wrong / runs <= _ceiling(runs)
    assert right / runs > 0.8  # the sequence does get down to the boundary


def test_each_threshold_is_tested_at_the_full_level_until_the_first_failure() -> None:
    rng = np.random.default_rng(73)
    for _ in range(50):
        confidence = rng.random(400)
        agreement = (rng.random(400) < 0.8 + 0.2 * confidence).astype(float)
        selection = fixed_sequence_threshold(confidence, agreement, target=TARGET, alpha=ALPHA)
        tests = selection.tests
        assert [t.threshold for t in tests] == sorted((t.threshold for t in tests), reverse=True)
        assert all(t.rejected for t in tests[:-1])
        for test in tests:
            served = agreement[confidence >= test.threshold]
            assert test.served == served.size
            assert test.lower == pytest.approx(
                clopper_pearson_lower(int(served.sum()), served.size, ALPHA)
            )
            assert test.rejected == (test.lower >= TARGET)
        rejected = [t.threshold for t in tests if t.rejected]
        assert selection.threshold == (min(rejected) if rejected else None)
        # Bonferroni over the ten thresholds never gets further down the same sequence
        stricter = fixed_sequence_threshold(
            confidence, agreement, target=TARGET, alpha=ALPHA / 10
        ).threshold
        if stricter is not None:
            assert selection.threshold is not None
            assert selection.threshold <= stricter


def test_fractional_agreements_use_the_chernoff_bound() -> None:
    confidence = [0.9, 0.8, 0.7, 0.6]
    agreement = [1.0, 0.5, 1.0, 2 / 3]
    selection = fixed_sequence_threshold(
        confidence, agreement, target=0.15, alpha=0.2, thresholds=[0.6, 0.8]
    )
    assert [t.threshold for t in selection.tests] == [0.8, 0.6]
    assert selection.tests[0].lower == pytest.approx(mean_lower_bound([1.0, 0.5], 0.2))
    assert selection.tests[1].agreeing == pytest.approx(1.0 + 0.5 + 1.0 + 2 / 3)
    assert selection.threshold == 0.6


def test_per_prompt_rows_average_each_prompt_in_first_appearance_order() -> None:
    confidence, agreement = per_prompt_rows(
        ["b", "a", "b", "c", "a"], [1.0, 2.0, 3.0, 4.0, 0.0], [1, 0, 0, 1, 1]
    )
    assert confidence == [2.0, 1.0, 4.0]
    assert agreement == [0.5, 0.5, 1.0]
    assert per_prompt_rows([], [], []) == ([], [])
    empty = fixed_sequence_threshold([], [], target=TARGET, alpha=ALPHA)
    assert empty.threshold is None
    assert empty.tests == ()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: per_prompt_rows(["a"], [1.0, 2.0], [1]), "give one of each per row"),
        (lambda: per_prompt_rows(["a"], [1.0], [1.5]), "every agreement must lie in"),
        (lambda: fixed_sequence_threshold([1.0], [1.0, 0.0], target=0.9, alpha=ALPHA), "per unit"),
        (lambda: fixed_sequence_threshold([1.0], [1.0], target=0.0, alpha=ALPHA), "target must"),
        (lambda: fixed_sequence_threshold([1.0], [1.0], target=0.9, alpha=1.0), "alpha must"),
        (lambda: fixed_sequence_threshold([1.0], [-1.0], target=0.9, alpha=ALPHA), "agreement"),
    ],
)
def test_invalid_arguments_raise(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
