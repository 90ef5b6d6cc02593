"""Bad input to the public API fails with a message that names the argument and the fix."""

import math

import pytest
from scripted import PROMPTS, teacher_fn

import pytest_bbi as bbi
from pytest_bbi.models import from_callable, load

TEACHER = from_callable(teacher_fn, name="teacher")
STUDENT = from_callable(teacher_fn, name="student")
STYLO = bbi.Budget(queries=20, adversaries=["stylometric"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queries": 1}, r"queries must be at least 2"),
        ({"queries": 0}, r"queries must be at least 2"),
        ({"queries": 10.5}, r"queries must be an int"),
        ({"queries": True}, r"queries must be an int"),
        ({"queries": 10, "seconds": 0}, r"seconds must be a finite number > 0"),
        ({"queries": 10, "seconds": -1.0}, r"seconds must be a finite number > 0"),
        ({"queries": 10, "seconds": math.inf}, r"seconds must be a finite number > 0"),
        ({"queries": 10, "seconds": "60"}, r"seconds must be a number"),
        ({"queries": 10, "adversaries": []}, r"adversary class is empty"),
        ({"queries": 10, "adversaries": "stylometric"}, r"must be a list of names"),
        ({"queries": 10, "train_fraction": 1.0}, r"train_fraction must lie in \(0, 1\)"),
        ({"queries": 2, "train_fraction": 0.2}, r"leaves no training or no held-out pair"),
    ],
)
def test_budget_rejects_bad_fields(kwargs, message):
    with pytest.raises(bbi.BudgetError, match=message):
        bbi.Budget(**kwargs)


def test_budget_is_frozen_and_splits_queries():
    budget = bbi.Budget(queries=401, seconds=60, adversaries=["stylometric"])
    assert (budget.train_queries, budget.test_queries) == (200, 201)
    assert budget.adversaries == ("stylometric",)
    with pytest.raises(AttributeError):
        budget.queries = 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 1.0}, r"epsilon=1.0: ε .* must lie in \[0, 1\)"),
        ({"epsilon": -0.1}, r"epsilon=-0.1"),
        ({"epsilon": 0.1, "alpha": 0.0}, r"alpha=0.0: α .* must lie in \(0, 1\)"),
        ({"epsilon": 0.1, "alpha": 1.5}, r"alpha=1.5"),
        ({"epsilon": 0.1, "mode": "strict"}, r"mode='strict': use mode='detect'"),
        ({"epsilon": 0.1, "seed": "7"}, r"seed='7': the seed must be an int"),
        # The seeds --bbi-seed takes, no more: any seed a report prints can be replayed there.
        ({"epsilon": 0.1, "seed": -1}, r"seed=-1: the seed must be an int in \[0, 2\*\*63\)"),
        ({"epsilon": 0.1, "seed": 2**63}, r"seed=9223372036854775808: the seed must be an int"),
        ({"epsilon": 0.1, "capability": "styel"}, r"unknown capability 'styel'; valid"),
    ],
)
def test_assertion_rejects_bad_arguments(kwargs, message):
    with pytest.raises(bbi.BbiError, match=message):
        bbi.assert_indistinguishable(TEACHER, STUDENT, PROMPTS, budget=STYLO, **kwargs)


def test_budget_must_be_a_budget():
    with pytest.raises(bbi.BudgetError, match=r"pass a pytest_bbi.Budget"):
        bbi.assert_indistinguishable(TEACHER, STUDENT, PROMPTS, budget=400, epsilon=0.1)


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        (None, r"prompts=None outside a capability: pass the prompts"),
        ([], r"prompts is empty"),
        ("one prompt", r"prompts is a single string"),
        (["fine", 3], r"prompts\[1\] is int"),
    ],
)
def test_bad_prompts(prompts, message):
    with pytest.raises(bbi.PromptError, match=message):
        bbi.assert_indistinguishable(TEACHER, STUDENT, prompts, budget=STYLO, epsilon=0.1)


@pytest.mark.parametrize(
    ("student", "message"),
    [
        (
            from_callable(lambda prompts, seeds: ["x"], name="short", batched=True),
            r"model 'short' returned 1 completions for 20 prompts",
        ),
        (
            from_callable(lambda prompt, seed: 42, name="number"),
            r"model 'number' returned int .* completions must be str",
        ),
        (
            from_callable(lambda prompts, seeds: "abc", name="flat", batched=True),
            r"model 'flat' returned str, expected a list of 20 strings",
        ),
    ],
)
def test_bad_model_output(student, message):
    with pytest.raises(bbi.ModelOutputError, match=message):
        bbi.assert_indistinguishable(TEACHER, student, PROMPTS, budget=STYLO, epsilon=0.1)


def test_not_a_model():
    with pytest.raises(bbi.BbiError, match=r"student=.* is not a model: .*from_callable"):
        bbi.assert_indistinguishable(TEACHER, teacher_fn, PROMPTS, budget=STYLO, epsilon=0.1)


def test_unknown_adversary_lists_the_available_ones():
    budget = bbi.Budget(queries=20, adversaries=["stylo"])
    with pytest.raises(
        bbi.AdversaryError, match=r"unknown adversary 'stylo'; available .*embedding"
    ):
        bbi.assert_indistinguishable(TEACHER, STUDENT, PROMPTS, budget=budget, epsilon=0.1)


class _Broken:
    name = "broken"

    def decide(self, train, trials, deadline):
        return [1.5] * len(trials)


def test_adversary_returning_bad_probabilities_is_an_error():
    budget = bbi.Budget(queries=20, adversaries=[_Broken()])
    with pytest.raises(bbi.AdversaryError, match=r"'broken' returned a value outside \[0, 1\]"):
        bbi.assert_indistinguishable(TEACHER, STUDENT, PROMPTS, budget=budget, epsilon=0.1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense", r"not of the form SCHEME:TARGET"),
        ("gpt:x", r"unknown backend 'gpt'; known backends: hf:, openai:, python:, vllm:"),
        ("python:scripted", r"expected MODULE:ATTRIBUTE"),
        ("python:scripted:nope", r"module 'scripted' has no attribute 'nope'"),
        ("python:scripted:PROMPTS", r"gave list, which is not a Model"),
    ],
)
def test_bad_model_specs(spec, message):
    with pytest.raises(bbi.ModelSpecError, match=message):
        load(spec)


def test_from_callable_validates():
    with pytest.raises(bbi.ModelSpecError, match="fn must be callable"):
        from_callable("not a function", name="x")
    with pytest.raises(bbi.ModelSpecError, match="non-empty name"):
        from_callable(teacher_fn, name=" ")


def test_kernel_adversary_is_registered_by_name():
    budget = bbi.Budget(queries=40, adversaries=["kernel"])
    verdict = bbi.assert_indistinguishable(TEACHER, STUDENT, PROMPTS, budget=budget, epsilon=0.3)
    assert list(verdict.adversaries) == ["kernel"]
    assert verdict.adversaries["kernel"].total == 20


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"threshold": "high"}, bbi.BudgetError, r"assert_agree: threshold='high' is not a number"),
        ({"seed": -1}, bbi.SeedError, r"seed=-1: the seed must be an int in \[0, 2\*\*63\)"),
        ({"seed": "3"}, bbi.SeedError, r"seed='3': the seed must be an int"),
    ],
)
def test_assert_agree_rejects_bad_arguments_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        bbi.assert_agree(TEACHER, STUDENT, "a prompt", similarity=lambda a, b: 1.0, **kwargs)
