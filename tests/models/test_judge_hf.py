"""A tiny hf model as the judge: the judge adversary runs end to end and replays exactly."""

import pytest_bbi as bbi
from pytest_bbi.adversaries.judge import JudgeAdversary
from pytest_bbi.models import load
from pytest_bbi.models.tiny import PROMPTS


def test_a_tiny_hf_judge_plays_the_game_deterministically(tiny_teacher_dir, tiny_student_dir):
    teacher = load(f"hf:{tiny_teacher_dir}", name="teacher", max_new_tokens=24)
    student = load(f"hf:{tiny_student_dir}", name="tic", max_new_tokens=24)
    judge = load(f"hf:{tiny_teacher_dir}", name="judge", max_new_tokens=4, batch_size=32)

    def run():
        budget = bbi.Budget(queries=40, adversaries=[JudgeAdversary(judge, shots=2)])
        try:
            return bbi.assert_indistinguishable(
                teacher, student, PROMPTS, budget=budget, epsilon=0.5, seed=5
            )
        except bbi.BehaviorFailure as failure:
            return failure.verdict

    first, second = run(), run()
    result = first.adversaries["judge"]
    assert result.total == 20
    assert result.details == second.adversaries["judge"].details
    assert (result.correct, result.examples) == (
        second.adversaries["judge"].correct,
        second.adversaries["judge"].examples,
    )
    details = result.details
    # Every one of the 40 answers is either parsed into a vote or counted as unparsable.
    assert details["consistent"] + details["inconsistent"] <= 20
    assert 0 <= details["unparsable"] <= 40
