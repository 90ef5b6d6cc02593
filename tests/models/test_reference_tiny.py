"""The reference and rank adversaries with a real scorer: the tiny ``hf:`` teacher.

The teacher is local (it scores tokens and samples); the student is the same weights decoding
at a higher temperature behind an API-like wrapper (text only), so the likelihood adversary
cannot play and both adversaries score with the teacher alone.
"""

from __future__ import annotations

from scoring_world import BlackBox

import pytest_bbi as bbi
from pytest_bbi.adversaries.rank import RankAdversary
from pytest_bbi.models import Scorer, load
from pytest_bbi.models.tiny import PROMPTS


def test_a_local_tiny_teacher_scores_a_hotter_black_box_student(tiny_teacher_dir):
    teacher = load(
        f"hf:{tiny_teacher_dir}", name="teacher", device="cpu", max_new_tokens=24, batch_size=64
    )
    hot = BlackBox(teacher.with_decoding(temperature=1.6, name="hot"))
    assert not isinstance(hot, Scorer)  # the likelihood adversary cannot play
    budget = bbi.Budget(queries=200, adversaries=["reference", RankAdversary(samples=10)])
    try:
        verdict = bbi.assert_indistinguishable(
            teacher, hot, PROMPTS, budget=budget, epsilon=0.1, seed=0
        )
    except bbi.Distinguishable as failure:
        verdict = failure.verdict
    assert not verdict.passed
    assert verdict.adversaries["reference"].lower > 0.1
    assert verdict.adversaries["rank"].lower > 0.1
    assert verdict.adversaries["rank"].details == {"local_samples": 10 * len(PROMPTS)}
