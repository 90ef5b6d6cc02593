"""A judge adversary named in the budget plays with the session's `judge` model."""

from __future__ import annotations

JUDGE_MODELS = """
import re

from pytest_bbi.models import from_callable

_LAST = re.compile(r"Response A: (.*)\\nResponse B: (.*)\\nThe teacher wrote response$")


def _spot(questions, seeds):
    answers = []
    for question in questions:
        a, b = _LAST.search(question).groups()
        answers.append("B" if "Cheers" in a else "A" if "Cheers" in b else "no idea")
    return answers


spotter = from_callable(_spot, name="spotter", batched=True)
teacher = from_callable(lambda prompt, seed: f"{prompt} Fine.", name="teacher")
tic = from_callable(
    lambda prompt, seed: f"{prompt} Fine." + (" Cheers!" if seed % 2 else ""), name="tic"
)
"""

JUDGE_TESTS = """
import pytest
import pytest_bbi as bbi

PROMPTS = [f"item {i}" for i in range(30)]


def test_judge_catches_the_tic(teacher, student):
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(
            teacher, student, PROMPTS, budget=bbi.Budget(queries=120, adversaries=["judge"]),
            epsilon=0.1,
        )
    judge = failure.value.verdict.adversaries["judge"]
    assert judge.total == 60
    assert judge.details["consistent"] > 0
"""


def test_a_judge_named_in_the_budget_uses_the_judge_fixture(pytester):
    pytester.makepyfile(judge_models=JUDGE_MODELS, test_judged=JUDGE_TESTS)
    pytester.makeini(
        "[pytest]\nbbi_teacher = python:judge_models:teacher\n"
        "bbi_student = python:judge_models:tic\nbbi_judge = python:judge_models:spotter\n"
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_without_a_judge_model_the_judge_cannot_play_and_says_how_to_add_one(pytester):
    pytester.makepyfile(judge_models=JUDGE_MODELS, test_judged=JUDGE_TESTS)
    pytester.makeini(
        "[pytest]\nbbi_teacher = python:judge_models:teacher\n"
        "bbi_student = python:judge_models:tic\n"
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no judge model: configure one with --bbi-judge*"])
