"""Seeds: a completion is a pure function of (run seed, role, prompt, sample index)."""

from collections import defaultdict

import pytest
from scripted import PROMPTS, teacher_fn
from verdicts import without_timings

import pytest_bbi as bbi
from pytest_bbi.game.acquisition import plan_queries
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import from_callable

BUDGET = bbi.Budget(queries=120, adversaries=["stylometric"])


def _recording(name, calls):
    def generate(prompt, seed):
        calls.append((prompt, seed))
        return teacher_fn(prompt, seed)

    return from_callable(generate, name=name)


def _run(seed):
    teacher_calls, student_calls = [], []
    verdict = bbi.assert_indistinguishable(
        _recording("teacher", teacher_calls),
        _recording("student", student_calls),
        PROMPTS,
        budget=BUDGET,
        epsilon=0.3,
        seed=seed,
    )
    return verdict, teacher_calls, student_calls


def test_teacher_and_student_never_share_a_seed_for_a_prompt():
    _, teacher_calls, student_calls = _run(seed=5)
    by_prompt = defaultdict(set)
    for prompt, seed in teacher_calls:
        by_prompt[prompt].add(seed)
    assert len(teacher_calls) == len(student_calls) == BUDGET.queries
    assert all(seed not in by_prompt[prompt] for prompt, seed in student_calls)
    assert len({seed for _, seed in teacher_calls + student_calls}) == 2 * BUDGET.queries


def test_same_seed_same_verdict_and_different_seed_different_draws():
    first, teacher_a, _ = _run(seed=5)
    second, teacher_b, _ = _run(seed=5)
    third, teacher_c, _ = _run(seed=6)

    def numbers(verdict):
        return without_timings(verdict.to_dict())

    assert teacher_a == teacher_b
    assert numbers(first) == numbers(second)
    assert {seed for _, seed in teacher_a}.isdisjoint({seed for _, seed in teacher_c})
    assert numbers(first) != numbers(third)


def test_queries_cycle_prompts_with_fresh_sample_indices():
    queries = plan_queries(["a", "b", "c"], 7, run_seed=1)
    assert sorted(q.prompt for q in queries[:3]) == ["a", "b", "c"]
    counts = defaultdict(list)
    for query in queries:
        counts[query.prompt].append(query.sample_index)
    assert all(indices == list(range(len(indices))) for indices in counts.values())
    assert plan_queries(["a", "b", "c"], 7, run_seed=1) == queries


@pytest.mark.parametrize("purpose", ["teacher", "student", "judge", "order"])
def test_derived_seeds_are_63_bit_and_separate_purposes(purpose):
    seed = derive_seed(3, purpose, "prompt", 0)
    assert 0 <= seed < 2**63
    assert seed == derive_seed(3, purpose, "prompt", 0)
    assert seed != derive_seed(4, purpose, "prompt", 0)
    assert seed != derive_seed(3, purpose, "prompt", 1)
    assert seed != derive_seed(3, purpose + "x", "prompt", 0)
    # length-prefixed parts: moving characters between fields changes the seed
    assert derive_seed(3, "ab", "c") != derive_seed(3, "a", "bc")
