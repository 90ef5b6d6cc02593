"""The hf backend end to end: tiny transformer models played through the assertion."""

import pytest

import pytest_bbi as bbi
from pytest_bbi.models import load
from pytest_bbi.models.tiny import PROMPTS

BUDGET = bbi.Budget(queries=160, adversaries=["stylometric"])


def test_teacher_against_its_own_weights_passes(tiny_teacher_dir):
    teacher = load(f"hf:{tiny_teacher_dir}", name="teacher", max_new_tokens=24)
    student = load(f"hf:{tiny_teacher_dir}", name="copy", max_new_tokens=24)
    verdict = bbi.assert_indistinguishable(
        teacher, student, PROMPTS, budget=BUDGET, epsilon=0.2, seed=3
    )
    assert verdict.passed
    assert verdict.adversaries["stylometric"].total == 80


def test_student_with_a_tic_is_caught_and_shown(tiny_teacher_dir, tiny_student_dir):
    # The shown pairs are sampled text of a tiny model trained on this machine: pinned to the CPU
    # (a GPU samples other text); another torch build can still train other weights.
    teacher = load(f"hf:{tiny_teacher_dir}", name="teacher", max_new_tokens=24, device="cpu")
    student = load(f"hf:{tiny_student_dir}", name="tic", max_new_tokens=24, device="cpu")
    with pytest.raises(bbi.Distinguishable, match="Chee") as failure:
        bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=0.2, seed=3)
    assert failure.value.verdict.advantage > 0.5
