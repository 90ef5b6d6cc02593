"""The game in rounds: coverage of a known advantage, A/A calibration, early stopping, acquisition.

Rates are asserted against α ± 3σ, σ = sqrt(α(1 − α)/R) over R seeded replications: if the
guarantee holds with equality, a test fails with probability below 0.2%.
"""

import itertools
import math
import random
from functools import partial

import pytest
from scripted import PROMPTS, TIC, teacher_fn, tic_fn
from verdicts import without_timings

import pytest_bbi as bbi
from pytest_bbi.game.acquisition import (
    DISAGREEMENT_SHARE,
    WEIGHT_BOUND,
    PromptHistory,
    Round,
    held_out_looks,
    next_queries,
    plan_queries,
    propensities,
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
    "epsilon", [0.0, TIC_RATE], ids=["stops-when-lower-passes-0", "eps-at-the-truth"]
)
def test_sequential_interval_covers_the_true_advantage_where_the_game_stops(epsilon):
    """Sequential: the interval at the (data-dependent) stop covers the advantage with ≥ 1 − α.

    With ε = 0 most games stop early for efficacy, just after the estimate ran high, where a
    fixed-n interval would be biased; with ε at the truth many stop early for futility (the
    design's non-binding futility boundary). Either way the interval reported at the stop, from
    the design's stage-wise ordering, must cover.
    """
    student = from_callable(partial(tic_fn, rate=TIC_RATE), name="tic-student")
    budget = bbi.Budget(queries=400, adversaries=[TicAdversary()], sequential=True)
    covered = stopped_early = 0
    for seed in range(COVERAGE_REPLICATIONS):
        verdict = _verdict(student, budget, epsilon=epsilon, alpha=ALPHA, seed=seed)
        covered += verdict.lower <= TIC_RATE <= verdict.upper
        stopped_early += verdict.queries < budget.queries
    assert covered / COVERAGE_REPLICATIONS >= 1 - ALPHA - 3 * _sigma(COVERAGE_REPLICATIONS)
    assert stopped_early > COVERAGE_REPLICATIONS / 2  # the data-dependent stops are exercised


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
    assert verdict.budget_queries == 200
    assert verdict.queries <= 200  # stops once it can no longer certify
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
        _unique("a"), _unique("b"), PROMPTS, budget=budget, epsilon=0.0, seed=2
    )
    assert not verdict.frozen
    assert verdict.rounds == len(recorder.calls) > 1
    trained = [{(pair.teacher, pair.student) for pair in train} for train, _ in recorder.calls]
    assert all(earlier < later for earlier, later in itertools.pairwise(trained))
    scored = [{frozenset((t.first, t.second)) for t in trials} for _, trials in recorder.calls]
    every_training_pair = {frozenset(pair) for pair in trained[-1]}
    assert all(pairs.isdisjoint(every_training_pair) for pairs in scored)
    assert sum(len(pairs) for pairs in scored) == len(set().union(*scored))
    assert verdict.adversaries["length"].total == sum(len(pairs) for pairs in scored)


@pytest.mark.parametrize("acquisition", ["stratified", "disagreement"])
def test_certify_fits_each_adversary_once_on_its_whole_training_share(acquisition):
    """The certificate speaks for the adversary trained on every training pair: they all come
    in the first round, and every later round decides new held-out pairs with the same fit
    (plus the first round's first trial, to check that the fit did not change)."""
    recorder = Recorder(LengthAdversary())
    budget = bbi.Budget(
        queries=1000, adversaries=[recorder], sequential=True, acquisition=acquisition
    )
    verdict = _verdict(_unique("a"), budget, epsilon=0.5, mode="certify", seed=2)
    assert verdict.frozen
    assert verdict.rounds == len(recorder.calls) > 1
    first_train, first_trials = recorder.calls[0]
    assert len(first_train) == 500
    probe = first_trials[0]
    for train, trials in recorder.calls[1:]:
        assert train == first_train
        assert trials[-1] == probe
    scored = [t for _, trials in recorder.calls for t in trials]
    held_out = {frozenset((t.first, t.second)) for t in scored}
    assert held_out.isdisjoint({frozenset((p.teacher, p.student)) for p in first_train})
    assert verdict.adversaries["length"].total == len(scored) - (len(recorder.calls) - 1)


class Refitting:
    """Fits anew, with fresh randomness, on every call: not one adversary across rounds."""

    name = "refitting"

    def __init__(self):
        self.calls = 0

    def decide(self, train, trials, deadline):
        self.calls += 1
        rng = random.Random(self.calls)
        return [rng.random() for _ in trials]


def test_certify_refuses_an_adversary_whose_fit_changes_between_rounds():
    budget = bbi.Budget(queries=600, adversaries=[Refitting()], sequential=True)
    with pytest.raises(bbi.AdversaryError, match="deterministic function of the training"):
        bbi.assert_indistinguishable(
            TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.3, mode="certify", seed=1
        )
    fixed_n = bbi.Budget(queries=600, adversaries=[Refitting()])
    _verdict(TEACHER, fixed_n, epsilon=0.3, mode="certify", seed=1)  # one fit: nothing to check
    detect = bbi.Budget(queries=600, adversaries=[Refitting()], sequential=True)
    _verdict(TEACHER, detect, epsilon=0.3, seed=1)  # detect may refit


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
        draw = next_queries("stratified", PROMPTS, plan, round_.queries, history, 8, "all", index)
        assert draw.weights == [1.0] * round_.queries
        history.record_queries(draw.queries)
        asked += draw.queries
    assert asked == plan


def test_disagreement_guided_rounds_draw_telling_prompts_more_often_with_known_weights():
    telling = PROMPTS[:10]
    plan = plan_queries(PROMPTS, 2000, run_seed=8, stratum="all")
    history = PromptHistory()
    first = next_queries("disagreement", PROMPTS, plan, 100, history, 8, "all", 0)
    assert first.weights == [1.0] * 100  # no evidence yet: uniform draws, π = d
    history.record_queries(first.queries)
    history.record_evidence(PROMPTS, [0.5 if p in telling else -0.2 for p in PROMPTS])
    assert history.disagreement(telling[0]) == 0.5
    assert history.disagreement(PROMPTS[-1]) == 0.0
    chances = propensities(PROMPTS, history)
    assert sum(chances.values()) == pytest.approx(1.0)
    # half the draws follow the evidence (all on the telling fifth), half stay uniform
    assert chances[telling[0]] == pytest.approx(0.5 / 50 + 0.5 / 10)
    assert min(chances.values()) == pytest.approx((1 - DISAGREEMENT_SHARE) / 50)
    later = next_queries("disagreement", PROMPTS, plan, 1000, history, 8, "all", 1)
    share = sum(query.prompt in telling for query in later.queries) / 1000
    assert share == pytest.approx(0.5 * 0.2 + 0.5, abs=0.05)
    assert {query.prompt for query in later.queries} == set(PROMPTS)  # every prompt keeps a chance
    for query, weight in zip(later.queries, later.weights, strict=True):
        assert weight == pytest.approx((1 / 50) / chances[query.prompt])
        assert weight <= WEIGHT_BOUND
    indices = {}
    for query in [*first.queries, *later.queries]:
        assert query.sample_index == indices.get(query.prompt, 0)
        indices[query.prompt] = query.sample_index + 1
    assert later == next_queries("disagreement", PROMPTS, plan, 1000, history, 8, "all", 1)
    assert later != next_queries("disagreement", PROMPTS, plan, 1000, history, 8, "all", 2)


def test_importance_weights_make_the_reweighted_draws_speak_for_the_prompt_list():
    """E[Z·d/π] over π-draws is the accuracy averaged over the list, whatever π is."""
    history = PromptHistory()
    history.record_evidence(PROMPTS, [0.4 if index < 10 else 0.0 for index in range(50)])
    accuracy = {prompt: 1.0 if index < 10 else 0.5 for index, prompt in enumerate(PROMPTS)}
    chances = propensities(PROMPTS, history)
    weighted = sum(chances[p] * accuracy[p] * (1 / 50) / chances[p] for p in PROMPTS)
    unweighted = sum(chances[p] * accuracy[p] for p in PROMPTS)
    assert weighted == pytest.approx(sum(accuracy.values()) / 50) == pytest.approx(0.6)
    assert unweighted > 0.7  # what the reweighted draws alone would report


def test_a_repeated_prompt_counts_as_often_as_it_appears_in_the_list():
    listed = ["a", "a", "b", "c"]
    assert propensities(listed, PromptHistory()) == {"a": 0.5, "b": 0.25, "c": 0.25}


def test_held_out_looks_are_the_same_in_both_modes_and_certify_trains_first():
    detect = schedule(1000, 0.5, sequential=True)
    certify = schedule(1000, 0.5, sequential=True, frozen=True)
    looks = held_out_looks(500, sequential=True)
    assert looks[0] == 32
    assert looks[-1] == 500
    assert all(1.4 < b / a <= 1.6 for a, b in itertools.pairwise(looks[:-1]))
    for rounds in (detect, certify):
        assert list(itertools.accumulate(r.held_out for r in rounds)) == looks
        assert sum(r.queries for r in rounds) == 1000
        assert sum(r.train for r in rounds) == 500
    assert certify[0].train == 500
    assert all(r.train == 0 for r in certify[1:])
    trained = list(itertools.accumulate(r.train for r in detect))
    assert all(0 < t <= 500 * look / 500 for t, look in zip(trained, looks, strict=True))


def test_schedule_spends_the_budget_in_one_round_at_fixed_n():
    assert schedule(1000, 0.5, sequential=False) == [Round(1000, 500)]
    assert schedule(1000, 0.5, sequential=False, frozen=True) == [Round(1000, 500)]
    assert [(r.queries, r.train) for r in schedule(2, 0.5, sequential=True)] == [(2, 1)]
    assert schedule(5, 0.9, sequential=True) == [Round(5, 4)]


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
