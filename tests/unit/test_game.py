"""game/setup.py and game/run.py: the shared setup, and the round loop as an object."""

from dataclasses import replace

import pytest
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi import context
from pytest_bbi.game.acquisition import plan_queries
from pytest_bbi.game.run import GameRun
from pytest_bbi.game.setup import UNTAGGED, check_model, set_up
from pytest_bbi.models import from_callable
from pytest_bbi.prompts import Prompt

TEACHER = from_callable(teacher_fn, name="teacher")
TIC = from_callable(tic_fn, name="tic")
STYLO = bbi.Budget(queries=200, adversaries=["stylometric"])


def test_setup_groups_by_bucket_and_stratifies_the_queries():
    prompts = [Prompt(p, "style") for p in PROMPTS[:10]] + [Prompt(p, "code") for p in PROMPTS[10:]]
    setup = set_up([*prompts, "untagged"], bbi.Budget(queries=301), capability=None, seed=5)
    assert list(setup.groups) == sorted(["style", "code", UNTAGGED])
    assert setup.split == {UNTAGGED: 101, "code": 100, "style": 100}
    assert setup.run_seed == 5
    assert setup.plan("code") == plan_queries(setup.groups["code"], 100, 5, "code")


def test_setup_reads_the_test_context():
    restore = context.activate(context.TestContext(seed=11, capability="math"))
    try:
        setup = set_up(PROMPTS, STYLO, capability=None, seed=None)
    finally:
        restore()
    assert (setup.run_seed, setup.capability, list(setup.groups)) == (11, "math", ["math"])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: set_up(PROMPTS, STYLO, capability=None, seed="7"), bbi.SeedError),
        (lambda: set_up(PROMPTS, STYLO, capability=None, seed=True), bbi.SeedError),
        (lambda: check_model(teacher_fn, "teacher"), bbi.NotAModelError),
    ],
)
def test_setup_checks_name_what_is_wrong(call, error):
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, bbi.BbiError)
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, bbi.BudgetError)


def run(student, budget, mode="detect"):
    setup = set_up(PROMPTS, budget, capability=None, seed=3)
    game = GameRun(setup, TEACHER, student, budget, mode, 0.1, 0.05)
    game.play()
    return game


def test_a_fixed_n_game_plays_one_round_of_the_whole_budget():
    game = run(TIC, STYLO)
    assert game.rounds_played == 1
    assert [play.queries for play in game.plays.values()] == [200]
    assert {cell.adversary for cell in game.cells()} == {"stylometric"}
    assert game.cells()[0].score.total == STYLO.test_queries


def test_a_sequential_game_stops_once_distinguishable_and_spends_less():
    budget = bbi.Budget(queries=1200, adversaries=["stylometric"], sequential=True)
    game = run(TIC, budget)
    assert 1 < game.rounds_played < len(game.plays[UNTAGGED].rounds)
    assert game.plays[UNTAGGED].queries < 1200
    assert game.decide().decision == "distinguishable"


def test_a_sequential_certify_game_settles_an_identical_student_early():
    budget = bbi.Budget(queries=1200, adversaries=["stylometric"], sequential=True)
    setup = set_up(PROMPTS, budget, capability=None, seed=3)
    game = GameRun(setup, TEACHER, TEACHER, budget, "certify", 0.3, 0.05)
    game.play()
    assert game.plays[UNTAGGED].settled
    assert game.plays[UNTAGGED].queries < 1200
    assert game.decide().decision == "certified"


def test_the_verdict_is_the_assertions():
    game = run(TEACHER, STYLO)
    verdict = game.verdict(game.decide())
    asserted = bbi.assert_indistinguishable(
        TEACHER, TEACHER, PROMPTS, budget=STYLO, epsilon=0.1, seed=3
    )

    def untimed(v):
        return replace(v, seconds=0.0, generation_seconds=0.0).to_dict() | {
            "adversaries": None,
            "buckets": None,
        }

    assert untimed(verdict) == untimed(asserted)
    assert {n: (r.correct, r.total) for n, r in verdict.adversaries.items()} == {
        n: (r.correct, r.total) for n, r in asserted.adversaries.items()
    }
