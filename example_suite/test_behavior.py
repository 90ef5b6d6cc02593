"""The example suite: one student that must pass, one whose verbal tic must give it away."""

import pytest

import pytest_bbi as bbi
from pytest_bbi.models.tiny import PROMPTS

BUDGET = bbi.Budget(queries=240, seconds=120)


@pytest.mark.capability("factual")
def test_teacher_against_itself_passes(teacher, student):
    verdict = bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=0.15)
    print(
        f"A/A: advantage {verdict.advantage:+.3f} in [{verdict.lower:+.3f}, {verdict.upper:+.3f}],"
        f" {verdict.decision}"
    )


@pytest.mark.capability("style")
def test_a_student_with_a_verbal_tic_is_caught(teacher, tic_student):
    with pytest.raises(bbi.Distinguishable) as caught:
        bbi.assert_indistinguishable(teacher, tic_student, PROMPTS, budget=BUDGET, epsilon=0.15)
    assert caught.value.verdict.decision == "distinguishable"
    print(caught.value)
