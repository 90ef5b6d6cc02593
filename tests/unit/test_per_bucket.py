"""Per-bucket verdicts: a student that misbehaves in one bucket is named there and only there."""

import pytest
from scripted import teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from pytest_bbi.prompts import Prompt, draw
from pytest_bbi.strategies import factual_prompts, robustness_prompts, style_prompts

STYLE = draw(style_prompts(), 60, seed=1)
FACTUAL = draw(factual_prompts(), 60, seed=2)
ROBUSTNESS = draw(robustness_prompts(), 60, seed=3)
ROBUST_SET = set(ROBUSTNESS) - set(STYLE) - set(FACTUAL)

TEACHER = from_callable(teacher_fn, name="teacher")


def _fragile(prompt, seed):
    """Behaves like the teacher, except on perturbed (robustness) prompts, where it has a tic."""
    return tic_fn(prompt, seed, rate=0.6) if prompt in ROBUST_SET else teacher_fn(prompt, seed)


FRAGILE = from_callable(_fragile, name="fragile-student")
BUDGET = bbi.Budget(queries=600, adversaries=["stylometric"])


def test_multi_bucket_assertion_fails_and_names_only_robustness():
    prompts = {"style": STYLE, "factual": FACTUAL, "robustness": ROBUSTNESS}
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(TEACHER, FRAGILE, prompts, budget=BUDGET, epsilon=0.1)
    verdict = failure.value.verdict
    assert verdict.failing_buckets == ["robustness"]
    assert set(verdict.buckets) == {"factual", "robustness", "style"}
    assert all(bucket.queries == 200 for bucket in verdict.buckets.values())
    headline = str(failure.value).splitlines()[0]
    assert "on capability 'robustness'" in headline
    assert "style" not in headline
    assert "factual" not in headline


def test_single_bucket_style_passes():
    verdict = bbi.assert_indistinguishable(
        TEACHER, FRAGILE, STYLE, budget=BUDGET, epsilon=0.1, capability="style"
    )
    assert verdict.passed
    assert list(verdict.buckets) == ["style"]
    assert verdict.capability == "style"


def test_tagged_prompts_and_strategies_mix():
    prompts = [Prompt(text, "factual") for text in FACTUAL] + [Prompt(t, "style") for t in STYLE]
    verdict = bbi.assert_indistinguishable(TEACHER, TEACHER, prompts, budget=BUDGET, epsilon=0.2)
    assert set(verdict.buckets) == {"factual", "style"}
    strategy_verdict = bbi.assert_indistinguishable(
        TEACHER, TEACHER, {"math": bbi.strategies.math_prompts()}, budget=BUDGET, epsilon=0.2
    )
    assert list(strategy_verdict.buckets) == ["math"]


def test_strategy_prompts_are_drawn_from_the_run_seed():
    calls = []

    def recording(prompt, seed):
        calls.append(prompt)
        return teacher_fn(prompt, seed)

    model = from_callable(recording, name="recording")
    budget = bbi.Budget(queries=40, adversaries=["stylometric"])
    for _ in range(2):
        bbi.assert_indistinguishable(
            model, TEACHER, style_prompts(), budget=budget, epsilon=0.2, seed=9
        )
    assert calls[:40] == calls[40:]
    calls.clear()
    bbi.assert_indistinguishable(
        model, TEACHER, style_prompts(), budget=budget, epsilon=0.2, seed=10
    )
    assert calls != []


def test_too_few_queries_for_the_buckets_is_a_budget_error():
    prompts = {"style": STYLE, "factual": FACTUAL, "robustness": ROBUSTNESS}
    with pytest.raises(bbi.BudgetError, match=r"over 3 buckets leaves fewer than 2 queries"):
        bbi.assert_indistinguishable(
            TEACHER, TEACHER, prompts, budget=bbi.Budget(queries=5), epsilon=0.1
        )


def test_unknown_bucket_in_prompts_is_an_error():
    with pytest.raises(bbi.BbiError, match=r"unknown capability 'stlye'"):
        bbi.assert_indistinguishable(
            TEACHER, TEACHER, [Prompt("hi", "stlye")], budget=BUDGET, epsilon=0.1
        )
