"""The game in rounds: coverage of a known advantage, A/A calibration, early stopping, acquisition.

Rates are asserted against α ± 3σ, σ = sqrt(α(1 − α)/R) over R seeded replications: if the
guarantee holds with equality, a test fails with probability below 0.2%.
"""

import itertools
import math
from functools import partial

import pytest
from scripted import PROMPTS, TIC, teacher_fn, tic_fn
from verdicts import without_timings

import pytest_bbi as bbi
from pytest_bbi.game.acquisition import (
    EXPLORATION_WEIGHT,
    PromptHistory,
    Round,
    next_queries,
    plan_queries,
    schedule,
)
from pytest_bbi.models import from_callable

TEACHER = from_callable(teacher_fn, name="teacher")
ALPHA = 0.05
TIC_RATE = 0.3


def _sigma(replications):
    return math.sqrt(ALPHA * (1 - ALPHA) / replications)


class TicAdversary:
    """Knows the student's only tell: the completion ending with the tic is the student's.

    Against a student that adds the tic to a share r of its completions its accuracy is exactly
    r + (1 − r)/2 (the rest are ties, settled by the core's fair coin), so its advantage is r.
    """

    name = "tic"

    def decide(self, train, trials, deadline):
        return [
            0.0 if trial.first.endswith(TIC) else 1.0 if trial.second.endswith(TIC) else 0.5
            for trial in trials
        ]


class LengthAdversary:
    """A learned adversary: the completion whose length is nearer the teachers' training mean."""

    name = "length"

    def decide(self, train, trials, deadline):
        teacher_mean = sum(len(pair.teacher) for pair in train) / len(train)
        student_mean = sum(len(pair.student) for pair in train) / len(train)

        def teacher_likeness(text):
            return abs(len(text) - student_mean) - abs(len(text) - teacher_mean)

        return [
            0.5
            if teacher_likeness(trial.first) == teacher_likeness(trial.second)
            else float(teacher_likeness(trial.first) > teacher_likeness(trial.second))
            for trial in trials
        ]


class Recorder:
    """Wraps an adversary and records every training set and trial list it was given."""

    def __init__(self, adversary):
        self.adversary = adversary
        self.name = adversary.name
        self.calls = []

    def decide(self, train, trials, deadline):
        self.calls.append((list(train), list(trials)))
        return self.adversary.decide(train, trials, deadline)


def _verdict(student, budget, **kwargs):
    try:
        return bbi.assert_indistinguishable(TEACHER, student, PROMPTS, budget=budget, **kwargs)
    except bbi.BehaviorFailure as failure:
        return failure.verdict


# --------------------------------------------------------------------------------------------
# (a) coverage of a known advantage, end to end
# --------------------------------------------------------------------------------------------

COVERAGE_REPLICATIONS = 500


@pytest.mark.replication
def test_fixed_n_bounds_each_cover_the_true_advantage():
    """Fixed-n: each one-sided Clopper–Pearson bound holds with probability ≥ 1 − α."""
    student = from_callable(partial(tic_fn, rate=TIC_RATE), name="tic-student")
    budget = bbi.Budget(queries=200, adversaries=[TicAdversary()])
    lower_holds = upper_holds = 0
    for seed in range(COVERAGE_REPLICATIONS):
        verdict = _verdict(student, budget, epsilon=TIC_RATE, alpha=ALPHA, seed=seed)
        lower_holds += verdict.lower <= TIC_RATE
        upper_holds += verdict.upper >= TIC_RATE
    floor = 1 - ALPHA - 3 * _sigma(COVERAGE_REPLICATIONS)
    assert lower_holds / COVERAGE_REPLICATIONS >= floor
    assert upper_holds / COVERAGE_REPLICATIONS >= floor


@pytest.mark.replication
@pytest.mark.parametrize(
    ("epsilon", "stops_early"),
    [(0.0, True), (TIC_RATE, False)],
    ids=["stops-when-lower-passes-0", "eps-at-the-truth"],
)
def test_sequential_interval_covers_the_true_advantage_where_the_game_stops(epsilon, stops_early):
    """Sequential: the interval at the (data-dependent) stop covers the advantage with ≥ 1 − α.

    With ε = 0 most games stop early, just after the estimate ran high, where a fixed-n interval
    would be biased; with ε at the truth the game stops only when the interval
    excludes or touches it, so coverage is exactly the time-uniform guarantee.
    """
    student = from_callable(partial(tic_fn, rate=TIC_RATE), name="tic-student")
    budget = bbi.Budget(queries=400, adversaries=[TicAdversary()], sequential=True)
    covered = stopped_early = 0
    for seed in range(COVERAGE_REPLICATIONS):
        verdict = _verdict(student, budget, epsilon=epsilon, alpha=ALPHA, seed=seed)
        covered += verdict.lower <= TIC_RATE <= verdict.upper
        stopped_early += verdict.queries < budget.queries
    assert covered / COVERAGE_REPLICATIONS >= 1 - ALPHA - 3 * _sigma(COVERAGE_REPLICATIONS)
    assert (stopped_early > COVERAGE_REPLICATIONS / 2) == stops_early


# --------------------------------------------------------------------------------------------
# (b) A/A calibration with early stopping
# --------------------------------------------------------------------------------------------

AA_REPLICATIONS = 200


@pytest.mark.replication
@pytest.mark.parametrize("acquisition", ["stratified", "disagreement"])
def test_teacher_against_itself_fails_at_most_alpha_plus_three_sigma(acquisition):
    """ε = 0 and identical distributions: H0 holds with equality in every round, including
    rounds whose prompts were chosen from earlier rounds' noise. The length adversary refits on
    the growing training set each round; the tic adversary only ever ties (coin flips)."""
    budget = bbi.Budget(
        queries=240,
        adversaries=[LengthAdversary(), TicAdversary()],
        sequential=True,
        acquisition=acquisition,
    )
    failures = sum(
        _verdict(TEACHER, budget, epsilon=0.0, alpha=ALPHA, seed=seed).decision == "distinguishable"
        for seed in range(AA_REPLICATIONS)
    )
    assert failures / AA_REPLICATIONS <= ALPHA + 3 * _sigma(AA_REPLICATIONS)


# --------------------------------------------------------------------------------------------
# (c) and (d) early stopping
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_clearly_distinguishable_pair_stops_within_a_quarter_of_the_budget(seed):
    always_tic = from_callable(partial(tic_fn, rate=1.0), name="always-tic")
    budget = bbi.Budget(queries=1000, adversaries=["stylometric"], sequential=True)
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(
            TEACHER, always_tic, PROMPTS, budget=budget, epsilon=0.1, seed=seed
        )
    verdict = failure.value.verdict
    assert verdict.budget_queries == 1000
    assert verdict.queries <= 0.25 * verdict.budget_queries
    assert verdict.buckets["all"].queries == verdict.queries
    assert f"spent {verdict.queries} of 1000 queries in {verdict.rounds} round" in str(
        failure.value
    )


def test_certify_stops_an_identical_pair_once_every_upper_bound_is_within_epsilon():
    recorder = Recorder(LengthAdversary())
    budget = bbi.Budget(queries=2000, adversaries=[TicAdversary(), recorder], sequential=True)
    verdict = bbi.assert_indistinguishable(
        TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.2, mode="certify", seed=3
    )
    assert verdict.decision == "certified"
    assert all(result.upper <= 0.2 for result in verdict.adversaries.values())
    assert verdict.queries < verdict.budget_queries
    assert verdict.to_dict()["queries"] == verdict.queries
    assert len(recorder.calls) == verdict.rounds


def test_buckets_stop_separately_and_report_their_own_queries():
    style, math_prompts = PROMPTS[:25], PROMPTS[25:]
    student = from_callable(
        lambda prompt, seed: tic_fn(prompt, seed, rate=1.0 if prompt in style else 0.0),
        name="style-tic",
    )
    prompts = {"style": style, "math": math_prompts}
    budget = bbi.Budget(queries=2000, adversaries=[TicAdversary()], sequential=True)
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(TEACHER, student, prompts, budget=budget, epsilon=0.1, seed=1)
    verdict = failure.value.verdict
    assert verdict.failing_buckets == ["style"]
    assert verdict.queries == sum(bucket.queries for bucket in verdict.buckets.values()) < 500

    certified = bbi.assert_indistinguishable(
        TEACHER, TEACHER, prompts, budget=budget, epsilon=0.3, mode="certify", seed=1
    )
    assert certified.decision == "certified"
    assert all(bucket.queries < 1000 for bucket in certified.buckets.values())
    assert certified.queries == sum(bucket.queries for bucket in certified.buckets.values())


def test_certify_without_enough_budget_is_inconclusive_and_estimates_the_queries():
    budget = bbi.Budget(queries=200, adversaries=["stylometric"], sequential=True)
    with pytest.raises(bbi.Inconclusive) as failure:
        bbi.assert_indistinguishable(
            TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.1, mode="certify", seed=1
        )
    verdict = failure.value.verdict
    assert verdict.queries == verdict.budget_queries == 200
    assert verdict.queries_to_decide is not None
    assert verdict.queries_to_decide > 200


def test_fixed_n_mode_spends_the_whole_budget_in_one_round():
    verdict = _verdict(
        TEACHER, bbi.Budget(queries=200, adversaries=["stylometric"]), epsilon=0.3, seed=1
    )
    assert (verdict.queries, verdict.budget_queries, verdict.rounds) == (200, 200, 1)
    assert not verdict.sequential


# --------------------------------------------------------------------------------------------
# Rounds: held-out pairs are never trained on; determinism
# --------------------------------------------------------------------------------------------


def _unique(name):
    """A model whose every completion is distinct, so pairs can be recognized by their text."""
    return from_callable(lambda prompt, seed: f"{name}:{prompt}:{seed}", name=name)


@pytest.mark.parametrize("acquisition", ["stratified", "disagreement"])
def test_adversaries_train_on_a_growing_set_and_are_never_scored_on_training_pairs(acquisition):
    recorder = Recorder(LengthAdversary())
    budget = bbi.Budget(
        queries=400, adversaries=[recorder], sequential=True, acquisition=acquisition
    )
    verdict = bbi.assert_indistinguishable(
        _unique("a"), _unique("b"), PROMPTS, budget=budget, epsilon=0.5, seed=2
    )
    assert verdict.rounds == len(recorder.calls) > 1
    trained = [{(pair.teacher, pair.student) for pair in train} for train, _ in recorder.calls]
    assert all(earlier < later for earlier, later in itertools.pairwise(trained))
    scored = [{frozenset((t.first, t.second)) for t in trials} for _, trials in recorder.calls]
    every_training_pair = {frozenset(pair) for pair in trained[-1]}
    assert all(pairs.isdisjoint(every_training_pair) for pairs in scored)
    assert sum(len(pairs) for pairs in scored) == len(set().union(*scored))
    assert verdict.adversaries["length"].total == sum(len(pairs) for pairs in scored)


@pytest.mark.parametrize("acquisition", ["stratified", "disagreement"])
def test_same_seed_same_sequential_verdict(acquisition):
    budget = bbi.Budget(
        queries=300, adversaries=["stylometric"], sequential=True, acquisition=acquisition
    )
    student = from_callable(partial(tic_fn, rate=0.2), name="tic-student")
    first, second, other = (
        _verdict(student, budget, epsilon=0.0, seed=seed).to_dict() for seed in (4, 4, 5)
    )
    assert without_timings(first) == without_timings(second)
    assert without_timings(first) != without_timings(other)


# --------------------------------------------------------------------------------------------
# Acquisition
# --------------------------------------------------------------------------------------------


def test_stratified_rounds_ask_exactly_the_fixed_n_plan_in_order():
    plan = plan_queries(PROMPTS, 300, run_seed=8, stratum="all")
    history = PromptHistory()
    asked = []
    for index, round_ in enumerate(schedule(300, 0.5, sequential=True)):
        queries = next_queries(
            "stratified", PROMPTS, plan, round_.queries, history, 8, "all", index
        )
        history.record_queries(queries)
        asked += queries
    assert asked == plan


def test_disagreement_guided_rounds_draw_telling_prompts_more_often_with_fresh_samples():
    telling = PROMPTS[:10]
    plan = plan_queries(PROMPTS, 2000, run_seed=8, stratum="all")
    history = PromptHistory()
    first = next_queries("disagreement", PROMPTS, plan, 100, history, 8, "all", 0)
    assert first == plan[:100]
    history.record_queries(first)
    history.record_evidence(PROMPTS, [0.5 if p in telling else -0.2 for p in PROMPTS])
    assert history.disagreement(telling[0]) == 0.5
    assert history.disagreement(PROMPTS[-1]) == 0.0
    later = next_queries("disagreement", PROMPTS, plan, 1000, history, 8, "all", 1)
    share = sum(query.prompt in telling for query in later) / len(later)
    expected = 10 * (EXPLORATION_WEIGHT + 0.5) / (10 * 0.55 + 40 * EXPLORATION_WEIGHT)
    assert share == pytest.approx(expected, abs=0.05)
    assert {query.prompt for query in later} == set(PROMPTS)  # every prompt keeps a chance
    indices = {}
    for query in [*first, *later]:
        assert query.sample_index == indices.get(query.prompt, 0)
        indices[query.prompt] = query.sample_index + 1
    assert later == next_queries("disagreement", PROMPTS, plan, 1000, history, 8, "all", 1)
    assert later != next_queries("disagreement", PROMPTS, plan, 1000, history, 8, "all", 2)


def test_schedule_grows_geometrically_and_spends_the_budget():
    rounds = schedule(1000, 0.5, sequential=True)
    cumulative = [sum(r.queries for r in rounds[: i + 1]) for i in range(len(rounds))]
    assert cumulative[0] == 63
    assert cumulative[-1] == 1000
    assert all(1.4 < b / a <= 1.6 for a, b in itertools.pairwise(cumulative[:-1]))
    assert all(r.held_out >= 1 for r in rounds)
    assert schedule(1000, 0.5, sequential=False)[0].train == 500
    assert [(r.queries, r.train) for r in schedule(2, 0.5, sequential=True)] == [(2, 1)]
    assert schedule(5, 0.9, sequential=True)[0] == Round(queries=2, train=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"acquisition": "disagreement"}, "needs earlier rounds"),
        ({"acquisition": "uncertainty", "sequential": True}, "use 'stratified'"),
        ({"sequential": "yes"}, "sequential must be True"),
    ],
)
def test_budget_rejects_bad_sequential_options(kwargs, match):
    with pytest.raises(bbi.BudgetError, match=match):
        bbi.Budget(queries=100, **kwargs)
