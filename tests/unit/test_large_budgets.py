"""Huge budgets: a clear error above the ceiling, and a plan that costs memory only when played."""

import random
import tracemalloc

import pytest

import pytest_bbi as bbi
from pytest_bbi.budget import MAX_QUERIES
from pytest_bbi.game.acquisition import Query, plan_queries
from pytest_bbi.generation.seeding import derive_seed


@pytest.mark.parametrize("queries", [MAX_QUERIES + 1, 10**12, 10**400])
def test_a_budget_above_the_ceiling_is_refused_with_the_reason(queries):
    with pytest.raises(bbi.BudgetError, match=r"at most 1,000,000 queries; at that size"):
        bbi.Budget(queries=queries)


def test_the_ceiling_itself_is_a_valid_budget():
    assert bbi.Budget(queries=MAX_QUERIES).test_queries == MAX_QUERIES // 2


def test_planning_a_million_queries_holds_only_the_prompts():
    prompts = [f"prompt {index}" for index in range(100)]
    tracemalloc.start()
    try:
        plan = plan_queries(prompts, MAX_QUERIES, run_seed=3, stratum="math")
        first_round = plan[:1000]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(plan) == MAX_QUERIES
    assert len(first_round) == 1000
    assert peak < 1_000_000  # bytes; a list of a million queries takes about 100 MB
    last = plan[-1]
    assert last.sample_index == MAX_QUERIES // 100 - 1


def _eager_plan(prompts, queries, run_seed, stratum):
    """The plan as it was built before it became lazy: every query, in order."""
    order = list(range(len(prompts)))
    random.Random(derive_seed(run_seed, "acquisition", stratum)).shuffle(order)
    seen, planned = {}, []
    for position in range(queries):
        prompt = prompts[order[position % len(order)]]
        planned.append(Query(prompt, seen.get(prompt, 0)))
        seen[prompt] = seen.get(prompt, 0) + 1
    return planned


@pytest.mark.parametrize(
    "prompts", [["a", "b", "c"], ["a", "b", "a", "c", "a"], ["only"]], ids=["3", "repeats", "1"]
)
@pytest.mark.parametrize("queries", [1, 2, 7, 23])
def test_the_lazy_plan_asks_exactly_what_the_eager_plan_asked(prompts, queries):
    plan = plan_queries(prompts, queries, run_seed=5, stratum="style")
    eager = _eager_plan(prompts, queries, 5, "style")
    assert plan == eager
    assert list(plan) == eager
    assert [plan[index] for index in range(-queries, queries)] == eager + eager
    assert plan[2:5] == eager[2:5]
    with pytest.raises(IndexError):
        plan[queries]
