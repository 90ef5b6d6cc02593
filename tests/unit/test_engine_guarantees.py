"""The engine's guarantees, through the real assertion, on scripted models with known advantages.

Each replication plays the same fixed list of seeds, so a test is deterministic; rates are
bounded by design: a false failure (or false certificate) rate is asserted ≤ α + 3σ, and every
reported one-sided bound's coverage ≥ 1 − α − 3σ, σ = sqrt(α(1 − α)/R) over R seeds. If a
guarantee held with equality, such a test would fail for under 0.2% of seed lists.

The scenarios (issue 15's must-show list):

1. sequential certify, a learner that needs hundreds of training pairs and whose fully trained
   advantage exceeds ε: certified at most α of the time (the first engine certified it always);
2. disagreement-guided acquisition, the advantage exactly ε on average, all of it on a fifth of
   the prompts: false failures at most α (the first engine failed every run);
3. the advantage exactly ε, fixed-n and sequential, learned adversaries refitting: false
   failures at most α, and every bound covers the true advantage;
4. power at 1000 queries, true advantage 0.12, ε = 0: the sequential game finds it as often as
   its design says (≥ 0.8) with fewer queries than the fixed-n game;
7. the traffic population: prompts as clusters, one held-out pair per prompt, covers the
   advantage on the traffic the list was sampled from.
"""

import math
import random
import statistics

import pytest
from engine_scenarios import (
    TEACHER,
    LearnedTicAdversary,
    MemorizingAdversary,
    TicAdversary,
    secret_word_student,
    tic_student,
    verdict,
)
from scripted import PROMPTS

import pytest_bbi as bbi
from pytest_bbi import stats
from pytest_bbi.game.acquisition import held_out_looks
from pytest_bbi.models import from_callable

ALPHA = 0.05
SEEDS = range(200)
QUICK_SEEDS = range(4)
"""The few seeds of the default run's quick checks of the same scenarios (the replications
bound the rates; the quick checks catch a scenario that breaks outright, in seconds)."""


def _sigma(replications=None):
    return math.sqrt(ALPHA * (1 - ALPHA) / (replications or len(SEEDS)))


CEILING = ALPHA + 3 * _sigma()
FLOOR = 1 - ALPHA - 3 * _sigma()


def _covered(verdicts, truth):
    """Per side, the share of (verdict, cell) bounds that hold for the true advantage."""
    cells = [
        result
        for found in verdicts
        for bucket in found.buckets.values()
        for result in bucket.adversaries.values()
    ]
    lower = sum(result.lower <= truth(result) for result in cells) / len(cells)
    upper = sum(result.upper >= truth(result) for result in cells) / len(cells)
    return lower, upper


# --------------------------------------------------------------------------------------------
# 1. sequential certify speaks for the adversary trained on its whole training budget
# --------------------------------------------------------------------------------------------

SECRET_RATE = 0.6


def _memorizer_advantage(train_pairs):
    """The memorizer's expected advantage after ``train_pairs`` training pairs."""
    words = 300
    return SECRET_RATE * (1 - (1 - 1 / words) ** (SECRET_RATE * train_pairs))


def _memorizer_certify(seeds):
    budget = bbi.Budget(queries=2000, adversaries=[MemorizingAdversary()], sequential=True)
    student = secret_word_student(SECRET_RATE)
    return [
        verdict(student, budget, epsilon=0.45, mode="certify", alpha=ALPHA, seed=seed)
        for seed in seeds
    ]


@pytest.mark.replication
def test_sequential_certify_never_certifies_a_learner_whose_trained_advantage_exceeds_epsilon():
    """Fully trained on 1000 pairs the memorizer's advantage is about 0.52 > ε = 0.45, but
    after the ~60 training pairs of a first round it is about 0.07: refitting every round and
    bounding the running average (the first engine) certified it in 19 of seeds 0-19."""
    assert _memorizer_advantage(1000) > 0.5 > 0.45 > 0.1 > _memorizer_advantage(60)
    verdicts = _memorizer_certify(SEEDS)
    certified = sum(found.decision == "certified" for found in verdicts)
    assert certified / len(SEEDS) <= CEILING, f"{certified}/{len(SEEDS)} certified"
    assert all(found.frozen for found in verdicts)
    lower, _ = _covered(verdicts, lambda _: 0.45)
    assert lower >= FLOOR


# --------------------------------------------------------------------------------------------
# 2. disagreement-guided acquisition keeps speaking for the prompt list
# --------------------------------------------------------------------------------------------

TELLING = frozenset(PROMPTS[:10])


def _disagreement_at_epsilon(seeds):
    budget = bbi.Budget(
        queries=400, adversaries=[TicAdversary()], sequential=True, acquisition="disagreement"
    )
    student = tic_student(1.0, TELLING)
    return [verdict(student, budget, epsilon=0.2, alpha=ALPHA, seed=seed) for seed in seeds]


@pytest.mark.replication
def test_disagreement_acquisition_with_the_advantage_exactly_epsilon_fails_at_most_alpha():
    """The student always adds the tic on 10 of the 50 prompts: the tic adversary's advantage
    is 1 there and 0 elsewhere, 0.2 = ε on the list. The draws lean on the telling prompts,
    the importance weights take them back to the list."""
    verdicts = _disagreement_at_epsilon(SEEDS)
    failures = sum(found.decision == "distinguishable" for found in verdicts)
    assert failures / len(SEEDS) <= CEILING, f"{failures}/{len(SEEDS)} failed"
    lower, upper = _covered(verdicts, lambda _: 0.2)
    assert lower >= FLOOR
    assert upper >= FLOOR
    assert statistics.mean(found.estimate for found in verdicts) == pytest.approx(0.2, abs=0.03)
    raw = statistics.mean(found.advantage for found in verdicts)
    assert raw > 0.4  # what the reweighted draws alone would report


@pytest.mark.replication
def test_a_disagreement_a_a_game_fails_at_most_alpha_and_its_bounds_cover():
    budget = bbi.Budget(
        queries=400, adversaries=REFITTING, sequential=True, acquisition="disagreement"
    )
    verdicts = [verdict(TEACHER, budget, epsilon=0.0, alpha=ALPHA, seed=seed) for seed in SEEDS]
    failures = sum(found.decision == "distinguishable" for found in verdicts)
    assert failures / len(SEEDS) <= CEILING, f"{failures}/{len(SEEDS)} failed"
    lower, upper = _covered(verdicts, lambda _: 0.0)
    assert lower >= FLOOR
    assert upper >= FLOOR


# --------------------------------------------------------------------------------------------
# 3. the advantage exactly ε, with refits: false failures and coverage
# --------------------------------------------------------------------------------------------

TIC_RATE = 0.3
REFITTING = [LearnedTicAdversary(), TicAdversary()]


@pytest.mark.replication
@pytest.mark.parametrize("sequential", [False, True], ids=["fixed-n", "sequential"])
def test_detect_with_the_advantage_exactly_epsilon_fails_at_most_alpha_and_its_bounds_cover(
    sequential,
):
    budget = bbi.Budget(queries=400, adversaries=REFITTING, sequential=sequential)
    student = tic_student(TIC_RATE)
    verdicts = [
        verdict(student, budget, epsilon=TIC_RATE, alpha=ALPHA, seed=seed) for seed in SEEDS
    ]
    failures = sum(found.decision == "distinguishable" for found in verdicts)
    assert failures / len(SEEDS) <= CEILING, f"{failures}/{len(SEEDS)} failed"
    assert all(found.frozen is not sequential for found in verdicts)
    # the tic adversary's advantage is exactly the rate; the learner's once it saw a tic
    tic_cells = [dict(found.buckets["all"].adversaries)["tic"] for found in verdicts]
    assert sum(cell.lower <= TIC_RATE for cell in tic_cells) / len(SEEDS) >= FLOOR
    assert sum(cell.upper >= TIC_RATE for cell in tic_cells) / len(SEEDS) >= FLOOR


@pytest.mark.replication
def test_sequential_certify_with_the_advantage_exactly_epsilon_certifies_at_most_alpha():
    budget = bbi.Budget(queries=800, adversaries=REFITTING, sequential=True)
    student = tic_student(TIC_RATE)
    verdicts = [
        verdict(student, budget, epsilon=TIC_RATE, mode="certify", alpha=ALPHA, seed=seed)
        for seed in SEEDS
    ]
    certified = sum(found.decision == "certified" for found in verdicts)
    assert certified / len(SEEDS) <= CEILING, f"{certified}/{len(SEEDS)} certified"
    lower, upper = _covered(verdicts, lambda _: TIC_RATE)
    assert lower >= FLOOR
    assert upper >= FLOOR


def _a_a(seeds, sequential):
    budget = bbi.Budget(queries=240, adversaries=REFITTING, sequential=sequential)
    return [verdict(TEACHER, budget, epsilon=0.0, alpha=ALPHA, seed=seed) for seed in seeds]


@pytest.mark.replication
@pytest.mark.parametrize("sequential", [False, True], ids=["fixed-n", "sequential"])
def test_an_a_a_game_with_refits_fails_at_most_alpha_and_its_bounds_cover(sequential):
    verdicts = _a_a(SEEDS, sequential)
    failures = sum(found.decision == "distinguishable" for found in verdicts)
    assert failures / len(SEEDS) <= CEILING, f"{failures}/{len(SEEDS)} failed"
    lower, upper = _covered(verdicts, lambda _: 0.0)
    assert lower >= FLOOR
    assert upper >= FLOOR


# --------------------------------------------------------------------------------------------
# 4. power at 1000 queries, true advantage 0.12, ε = 0
# --------------------------------------------------------------------------------------------


@pytest.mark.replication
def test_the_sequential_game_has_its_designs_power_with_fewer_queries_than_fixed_n():
    looks = tuple(held_out_looks(500, sequential=True))
    design = stats.group_sequential_design(looks, 0.5, ALPHA)
    exact = stats.operating_characteristics(design, 0.56)
    assert exact.power >= 0.80
    budget = bbi.Budget(queries=1000, adversaries=[TicAdversary()], sequential=True)
    student = tic_student(0.12)
    verdicts = [verdict(student, budget, epsilon=0.0, alpha=ALPHA, seed=seed) for seed in SEEDS]
    power = sum(found.decision == "distinguishable" for found in verdicts) / len(SEEDS)
    spread = 3 * math.sqrt(exact.power * (1 - exact.power) / len(SEEDS))
    assert power >= exact.power - spread
    queries = statistics.mean(found.queries for found in verdicts)
    assert queries < 0.85 * 1000  # the fixed-n game spends all 1000


# --------------------------------------------------------------------------------------------
# 7. the traffic population
# --------------------------------------------------------------------------------------------

TRAFFIC = [f"Traffic question {index}: what about item {index}?" for index in range(3000)]
TELLING_TRAFFIC = frozenset(TRAFFIC[::3])  # the tic on 90% of answers there: advantage 0.3
TRAFFIC_ADVANTAGE = 0.9 * len(TELLING_TRAFFIC) / len(TRAFFIC)


@pytest.mark.replication
def test_the_traffic_population_covers_the_advantage_on_the_traffic_the_list_was_drawn_from():
    """Each run draws its own 60-prompt list from the traffic; one held-out pair per prompt
    makes the bounds hold for the traffic. Cycling a 20-prompt list (the default population)
    gives tight bounds on that list's own advantage, which say little about the traffic."""
    student = tic_student(0.9, TELLING_TRAFFIC, name="traffic-student")
    traffic = bbi.Budget(queries=100, adversaries=[TicAdversary()], population="traffic")
    listed = bbi.Budget(queries=400, adversaries=[TicAdversary()])
    by_traffic, by_list, list_truths = [], [], []
    for seed in SEEDS:
        sample = random.Random(seed).sample(TRAFFIC, 60)
        by_traffic.append(verdict(student, traffic, sample, epsilon=0.3, seed=seed))
        short = sample[:20]
        by_list.append(verdict(student, listed, short, epsilon=0.3, seed=seed))
        list_truths.append(0.9 * sum(p in TELLING_TRAFFIC for p in short) / len(short))
    assert all(found.population == "traffic" for found in by_traffic)
    assert all(found.adversaries["tic"].total == 50 for found in by_traffic)
    lower, upper = _covered(by_traffic, lambda _: TRAFFIC_ADVANTAGE)
    assert lower >= FLOOR
    assert upper >= FLOOR
    on_its_list = sum(
        found.lower <= truth <= found.upper
        for found, truth in zip(by_list, list_truths, strict=True)
    )
    on_traffic = sum(found.lower <= TRAFFIC_ADVANTAGE <= found.upper for found in by_list)
    assert on_its_list / len(SEEDS) >= 1 - 2 * ALPHA - 3 * _sigma()
    assert on_traffic / len(SEEDS) < 0.8


# --------------------------------------------------------------------------------------------
# Quick checks of the same scenarios and machinery (default run)
# --------------------------------------------------------------------------------------------


def test_quick_sequential_certify_does_not_certify_the_memorizer():
    """Each frozen memorizer is fully trained (advantage about 0.5 > ε = 0.45 on its held-out
    pairs), so no certificate; refitting it every round certified it in every run."""
    verdicts = _memorizer_certify(QUICK_SEEDS)
    assert not any(found.decision == "certified" for found in verdicts)
    assert all(found.frozen for found in verdicts)
    assert all(found.adversaries["memorizer"].estimated > 0.3 for found in verdicts)


def test_quick_disagreement_acquisition_reports_the_prompt_lists_advantage():
    verdicts = _disagreement_at_epsilon(QUICK_SEEDS)
    assert not any(found.decision == "distinguishable" for found in verdicts)
    assert statistics.mean(found.estimate for found in verdicts) == pytest.approx(0.2, abs=0.1)
    assert statistics.mean(found.advantage for found in verdicts) > 0.4


@pytest.mark.parametrize("sequential", [False, True], ids=["fixed-n", "sequential"])
def test_quick_a_a_games_with_refits_pass(sequential):
    assert all(found.decision == "undetected" for found in _a_a(QUICK_SEEDS, sequential))


def test_the_memorizer_needs_its_whole_training_share():
    student = secret_word_student(SECRET_RATE)
    fixed = bbi.Budget(queries=2000, adversaries=[MemorizingAdversary()])
    found = verdict(student, fixed, epsilon=0.0, seed=0)
    assert found.adversaries["memorizer"].advantage == pytest.approx(0.52, abs=0.08)
    few = bbi.Budget(queries=2000, adversaries=[MemorizingAdversary()], train_fraction=0.03)
    weak = verdict(student, few, epsilon=0.0, seed=0)
    assert weak.adversaries["memorizer"].advantage < 0.15


def test_traffic_needs_a_prompt_per_held_out_pair():
    budget = bbi.Budget(queries=100, adversaries=[TicAdversary()], population="traffic")
    with pytest.raises(bbi.BudgetError, match=r"has 50 prompts for 50 held-out pairs"):
        bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=budget, epsilon=0.1)
    with pytest.raises(bbi.BudgetError, match="population='traffic'"):
        bbi.Budget(queries=100, population="traffic", acquisition="disagreement", sequential=True)
    with pytest.raises(bbi.BudgetError, match="use 'prompts'"):
        bbi.Budget(queries=100, population="everyone")


def test_traffic_gives_every_held_out_pair_its_own_prompt_and_never_trains_on_it():
    seen = []

    def recording(prompt, seed):
        seen.append(prompt)
        return f"{prompt}:{seed}"

    model = from_callable(recording, name="recording")
    budget = bbi.Budget(queries=200, adversaries=[TicAdversary()], population="traffic")
    prompts = [f"p{index}" for index in range(120)]
    found = verdict(model, budget, prompts, teacher_model=model, epsilon=0.5, seed=4)
    assert found.population == "traffic"
    assert found.prompts == 120
    student_calls = seen[200:]
    train, held_out = student_calls[:100], student_calls[100:]
    assert len(set(held_out)) == 100
    assert set(held_out).isdisjoint(train)
