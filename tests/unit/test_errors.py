"""errors.py: one home for every exception, and a hierarchy that says what happened."""

import inspect

import pytest

import pytest_bbi as bbi
from pytest_bbi import errors
from pytest_bbi.verdict import Verdict

VERDICT = Verdict(
    passed=False,
    decision="inconclusive",
    mode="certify",
    epsilon=0.1,
    alpha=0.05,
    advantage=0.0,
    lower=-0.1,
    upper=0.3,
    queries=10,
    seconds=0.0,
    generation_seconds=0.0,
)


def test_inconclusive_is_not_distinguishable_but_both_carry_the_verdict():
    assert not issubclass(bbi.Inconclusive, bbi.Distinguishable)
    for outcome in (bbi.Inconclusive, bbi.Distinguishable):
        assert issubclass(outcome, bbi.BehaviorFailure)
        assert issubclass(outcome, AssertionError)
        failure = outcome("message", VERDICT)
        assert failure.verdict is VERDICT
        assert str(failure) == "message"
    with pytest.raises(bbi.BehaviorFailure):
        raise bbi.Inconclusive("budget too small", VERDICT)


@pytest.mark.parametrize("error", [bbi.NotAModelError, bbi.SeedError])
def test_a_bad_model_or_seed_is_not_a_budget_error(error):
    assert issubclass(error, bbi.BbiError)
    assert issubclass(error, ValueError)
    assert not issubclass(error, bbi.BudgetError)


def test_every_exception_lives_in_errors_and_the_package_exports_the_public_ones():
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException | Warning)
    }
    assert {"UnknownBucketError", "FingerprintError", "AdversaryTimeout", "Disagreement"} <= defined
    for name in defined - {
        "AdversaryTimeout",
        "UnknownBucketError",
        "FingerprintError",
        "BackendError",
    }:
        assert getattr(bbi, name) is getattr(errors, name), name


def test_the_assertion_raises_the_new_names(monkeypatch):
    from scripted import PROMPTS, teacher_fn

    from pytest_bbi.models import from_callable

    teacher = from_callable(teacher_fn, name="teacher")
    budget = bbi.Budget(queries=40, adversaries=["stylometric"])
    with pytest.raises(bbi.NotAModelError, match=r"student=.* is not a model"):
        bbi.assert_indistinguishable(teacher, teacher_fn, PROMPTS, budget=budget, epsilon=0.1)
    with pytest.raises(bbi.SeedError, match=r"seed=1\.5"):
        bbi.assert_indistinguishable(
            teacher, teacher, PROMPTS, budget=budget, epsilon=0.1, seed=1.5
        )
    with pytest.raises(bbi.NotAModelError, match="model=None"):
        bbi.fingerprint(None, PROMPTS, budget=budget)
