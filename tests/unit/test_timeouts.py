"""The time budget t: an adversary that runs out is reported, never silently dropped."""

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


@pytest.mark.parametrize("adversary", [Slow(), Oversleeper()])
def test_timed_out_adversary_is_reported_and_warned(adversary):
    budget = bbi.Budget(queries=40, seconds=0.01, adversaries=[Instant(), adversary])
    with pytest.warns(bbi.BbiWarning, match=rf"adversary '{adversary.name}' ran out"):
        verdict = bbi.assert_indistinguishable(
            TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.2, seed=0
        )
    result = verdict.adversaries[adversary.name]
    assert result.timed_out
    assert (result.correct, result.total, result.p_value) == (0, 0, 1.0)
    assert (result.lower, result.upper) == (-1.0, 1.0)
    assert verdict.adversaries["instant"].total == 20


@pytest.mark.parametrize("mode", ["detect", "certify"])
def test_when_every_adversary_times_out_nothing_was_tested(mode):
    budget = bbi.Budget(queries=40, seconds=0.01, adversaries=[Slow()])
    with (
        pytest.warns(bbi.BbiWarning),
        pytest.raises(bbi.Inconclusive, match=r"nothing was tested .* every adversary ran out"),
    ):
        bbi.assert_indistinguishable(
            TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.2, mode=mode, seed=0
        )


def test_timed_out_adversary_blocks_certification_and_is_named_in_the_failure():
    budget = bbi.Budget(queries=40, seconds=0.01, adversaries=[Slow()])
    with (
        pytest.warns(bbi.BbiWarning),
        pytest.raises(
            bbi.Inconclusive, match=r"slow \(all\): ran out of its time budget"
        ) as failure,
    ):
        bbi.assert_indistinguishable(
            TEACHER, TIC, PROMPTS, budget=budget, epsilon=0.2, mode="certify", seed=0
        )
    assert failure.value.verdict.adversaries["slow"].timed_out


def test_adversary_error_propagates_with_its_traceback():
    class Crashing:
        name = "crashing"

        def decide(self, train, trials, deadline):
            raise RuntimeError("classifier exploded")

    budget = bbi.Budget(queries=20, adversaries=[Crashing()])
    with pytest.raises(RuntimeError, match="classifier exploded"):
        bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.1)
