"""The safety limit t: an adversary that overruns it is reported and the run is inconclusive."""

import time

import pytest
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.models import from_callable

TEACHER = from_callable(teacher_fn, name="teacher")
TIC = from_callable(tic_fn, name="tic-student")


class Slow:
    name = "slow"

    def decide(self, train, trials, deadline):
        time.sleep(0.05)
        deadline.check()
        return [0.5] * len(trials)


class Instant:
    name = "instant"

    def decide(self, train, trials, deadline):
        return [0.5] * len(trials)


class Oversleeper:
    """Ignores the deadline; the core must still refuse its late answer."""

    name = "oversleeper"

    def decide(self, train, trials, deadline):
        time.sleep(0.05)
        return [1.0] * len(trials)


@pytest.mark.parametrize("mode", ["detect", "certify"])
@pytest.mark.parametrize("adversary", [Slow(), Oversleeper()])
def test_an_overrun_adversary_is_reported_and_the_run_decides_nothing(adversary, mode):
    # Dropping the late adversary and passing on the others would change the adversary class
    # with the machine's load; the run is inconclusive instead, with the reason.
    budget = bbi.Budget(queries=40, seconds=0.01, adversaries=[Instant(), adversary])
    with (
        pytest.warns(bbi.BbiWarning, match=rf"adversary '{adversary.name}' overran"),
        pytest.raises(
            bbi.Inconclusive, match=rf"{adversary.name} \(all\) overran the safety limit"
        ) as failure,
    ):
        bbi.assert_indistinguishable(
            TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.2, mode=mode, seed=0
        )
    verdict = failure.value.verdict
    assert verdict.decision == "inconclusive"
    result = verdict.adversaries[adversary.name]
    assert result.timed_out
    assert result.overrun is not None
    assert "past its safety limit" in result.overrun
    assert (result.correct, result.total, result.p_value) == (0, 0, 1.0)
    assert (result.lower, result.upper) == (-1.0, 1.0)
    assert verdict.adversaries["instant"].total == 20


def test_the_overrun_reason_is_in_the_failure_text():
    budget = bbi.Budget(queries=40, seconds=0.01, adversaries=[Slow()])
    with (
        pytest.warns(bbi.BbiWarning),
        pytest.raises(
            bbi.Inconclusive, match=r"slow \(all\): overran its safety limit \(spent"
        ) as failure,
    ):
        bbi.assert_indistinguishable(
            TEACHER, TIC, PROMPTS, budget=budget, epsilon=0.2, mode="certify", seed=0
        )
    assert failure.value.verdict.adversaries["slow"].timed_out


class Oracle:
    """Knows the student's one answer, so it names the teacher every time, at once."""

    name = "oracle"

    def decide(self, train, trials, deadline):
        return [0.0 if trial.first == CONSTANT_ANSWER else 1.0 for trial in trials]


CONSTANT_ANSWER = "Nothing to see here."


def test_a_rejection_by_another_adversary_stands_beside_an_overrun():
    constant = from_callable(lambda prompt, seed: CONSTANT_ANSWER, name="constant")
    budget = bbi.Budget(queries=40, seconds=0.01, adversaries=[Oracle(), Slow()])
    with pytest.warns(bbi.BbiWarning), pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(TEACHER, constant, PROMPTS, budget=budget, epsilon=0.2, seed=0)
    verdict = failure.value.verdict
    assert verdict.decision == "distinguishable"
    assert verdict.adversaries["slow"].timed_out
    assert verdict.adversaries["oracle"].rejected


def test_adversary_error_propagates_with_its_traceback():
    class Crashing:
        name = "crashing"

        def decide(self, train, trials, deadline):
            raise RuntimeError("classifier exploded")

    budget = bbi.Budget(queries=20, adversaries=[Crashing()])
    with pytest.raises(RuntimeError, match="classifier exploded"):
        bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.1)
