"""The decision's error rates end to end: A/A false-fail rate ≤ α (+3σ) in detect mode, power
against a tic on the same seeds, and certify's two outcomes."""

import math

import pytest
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.models import from_callable

TEACHER = from_callable(teacher_fn, name="teacher")
TIC = from_callable(tic_fn, name="tic-student")
ALPHA = 0.05
REPLICATIONS = 200


class LengthAdversary:
    """Names as teacher the completion whose length is closer to the teachers' mean in training."""

    name = "length"

    def decide(self, train, trials, deadline):
        teacher_mean = sum(len(pair.teacher) for pair in train) / len(train)
        student_mean = sum(len(pair.student) for pair in train) / len(train)
        probabilities = []
        for trial in trials:
            first = abs(len(trial.first) - teacher_mean) - abs(len(trial.first) - student_mean)
            second = abs(len(trial.second) - teacher_mean) - abs(len(trial.second) - student_mean)
            probabilities.append(0.5 if first == second else (0.9 if first < second else 0.1))
        return probabilities


@pytest.mark.replication
def test_teacher_against_itself_fails_at_most_alpha_plus_three_sigma():
    """H0 holds with equality (ε = 0, identical distributions, independent seeds per role)."""
    budget = bbi.Budget(queries=120, adversaries=["stylometric", LengthAdversary()])
    failures = 0
    for seed in range(REPLICATIONS):
        try:
            bbi.assert_indistinguishable(
                TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.0, alpha=ALPHA, seed=seed
            )
        except bbi.BehaviorFailure:
            failures += 1
    sigma = math.sqrt(ALPHA * (1 - ALPHA) / REPLICATIONS)
    assert failures / REPLICATIONS <= ALPHA + 3 * sigma, (
        f"{failures}/{REPLICATIONS} A/A runs failed"
    )


@pytest.mark.replication
def test_detect_has_power_against_a_tic_on_the_same_seeds():
    budget = bbi.Budget(queries=300, adversaries=["stylometric", LengthAdversary()])
    failures = 0
    for seed in range(20):
        try:
            bbi.assert_indistinguishable(
                TEACHER, TIC, PROMPTS, budget=budget, epsilon=0.0, alpha=ALPHA, seed=seed
            )
        except bbi.BehaviorFailure:
            failures += 1
    assert failures >= 18


def test_certify_passes_an_identical_pair_at_large_n():
    verdict = bbi.assert_indistinguishable(
        TEACHER,
        TEACHER,
        PROMPTS,
        budget=bbi.Budget(queries=3000, adversaries=["stylometric"]),
        epsilon=0.1,
        mode="certify",
        seed=1,
    )
    assert verdict.decision == "certified"
    assert verdict.upper <= 0.1
    assert verdict.adversaries["stylometric"].total == 1500


def test_certify_fails_a_clearly_different_pair_as_distinguishable():
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(
            TEACHER,
            TIC,
            PROMPTS,
            budget=bbi.Budget(queries=600, adversaries=["stylometric"]),
            epsilon=0.1,
            mode="certify",
            seed=1,
        )
    assert not isinstance(failure.value, bbi.Inconclusive)
    assert failure.value.verdict.decision == "distinguishable"
    assert failure.value.verdict.lower > 0.1


def test_certify_with_too_few_queries_is_inconclusive_and_says_how_many_would_decide():
    with pytest.raises(bbi.Inconclusive) as failure:
        bbi.assert_indistinguishable(
            TEACHER,
            TEACHER,
            PROMPTS,
            budget=bbi.Budget(queries=100, adversaries=["stylometric"]),
            epsilon=0.1,
            mode="certify",
            seed=1,
        )
    verdict = failure.value.verdict
    assert verdict.decision == "inconclusive"
    assert verdict.queries_to_decide is not None
    assert verdict.queries_to_decide > 100
    assert f"about {verdict.queries_to_decide} queries would likely decide" in str(failure.value)
