"""Answers independent of machine load: work caps bound every built-in adversary, not seconds.

A slow machine is simulated by a clock that advances a fixed step on every reading: the same
adversary, inputs and seed must give the same answer on any machine, unless the machine is so
slow that the safety limit passes, and then the overrun is reported, never a different answer.
"""

import math
import time

import pytest
from scripted import TIC
from synthetic_pairs import game

from pytest_bbi.adversaries import AdversaryTimeout, Deadline
from pytest_bbi.adversaries.embedding import EmbeddingAdversary
from pytest_bbi.adversaries.finetuned import FinetunedAdversary
from pytest_bbi.adversaries.judge import JudgeAdversary
from pytest_bbi.adversaries.kernel import KernelAdversary
from pytest_bbi.adversaries.likelihood import LikelihoodAdversary
from pytest_bbi.adversaries.stylometric import StylometricAdversary
from pytest_bbi.game.play import Game, score_adversary
from pytest_bbi.models import from_callable


class TickingClock:
    """A clock that advances ``step`` seconds each time it is read: a machine of fixed speed."""

    def __init__(self, step):
        self.step = step
        self.now = 0.0

    def __call__(self):
        self.now += self.step
        return self.now


class LengthScorer:
    """A white-box model whose log-probability of a completion falls with its length."""

    def __init__(self, name, per_char):
        self.name = name
        self.identity = f"length-scorer:{name}:{per_char}"
        self.per_char = per_char

    def generate(self, prompts, seeds):
        return ["ok" for _ in prompts]

    def score(self, prompts, completions):
        return [-self.per_char * len(completion) for completion in completions]


def _judge(questions, seeds):
    """A scripted judge: the response without the tic is the teacher's."""
    answers = []
    for question in questions:
        last = question.rsplit("Prompt:", 1)[-1]
        first, second = last.split("Response B:", 1)
        answers.append("B" if TIC.strip() in first and TIC.strip() not in second else "A")
    return answers


def _bound(adversary, teacher, student):
    assert adversary.bind(teacher, student, 0) is None
    return adversary


ADVERSARIES = {
    "stylometric": StylometricAdversary,
    "embedding": EmbeddingAdversary,
    "kernel": KernelAdversary,
    "finetuned": lambda: FinetunedAdversary(epochs=2),
    "judge": lambda: _bound(
        JudgeAdversary(from_callable(_judge, name="scripted-judge", batched=True)), None, None
    ),
    "likelihood": lambda: _bound(
        LikelihoodAdversary(), LengthScorer("teacher", 0.1), LengthScorer("student", 0.2)
    ),
}


@pytest.fixture(scope="module")
def small_game():
    train, trials, _ = game(seed=5, tic_rate=0.4, n_train=16, n_trials=8)
    return train, trials


@pytest.fixture(scope="module")
def references(small_game):
    """Each adversary's answer on this machine, with no limit, computed once."""
    train, trials = small_game
    return {
        name: make().decide(train, trials, Deadline(None)) for name, make in ADVERSARIES.items()
    }


@pytest.mark.parametrize("name", ADVERSARIES)
def test_a_slow_machine_gives_the_same_answer_within_a_generous_limit(
    name, small_game, references, monkeypatch
):
    """A clock reading 50 ms later at every look, as on a machine thousands of times slower."""
    train, trials = small_game
    adversary = ADVERSARIES[name]()
    monkeypatch.setattr(time, "perf_counter", TickingClock(0.05))
    assert adversary.decide(train, trials, Deadline(3600.0)) == references[name]


@pytest.mark.parametrize("name", ADVERSARIES)
def test_past_the_limit_an_adversary_overruns_and_never_answers_differently(
    name, small_game, references, monkeypatch
):
    """One clock tick per second and limits from a few ticks up: each run either gives the
    reference answer or raises AdversaryTimeout. Stopping training early to fit the limit
    (a shorter fit, a different answer, nothing reported) is what this forbids."""
    train, trials = small_game
    reference = references[name]
    outcomes = []
    for limit in (3.0, 7.0, 40.0):
        adversary = ADVERSARIES[name]()
        monkeypatch.setattr(time, "perf_counter", TickingClock(1.0))
        try:
            answer = adversary.decide(train, trials, Deadline(limit))
        except AdversaryTimeout:
            outcomes.append("overrun")
            continue
        assert answer == reference, f"limit {limit}s changed the answer"
        outcomes.append("same")
    assert outcomes[-1] == "same"  # 40 ticks are enough for every adversary's whole work
    if name == "finetuned":
        assert outcomes[0] == "overrun"


def test_the_fine_tuned_adversary_trains_its_whole_work_cap_whatever_the_clock(
    small_game, monkeypatch
):
    train, trials = small_game
    capped = FinetunedAdversary(epochs=3, batch_size=8, max_steps=5)
    monkeypatch.setattr(time, "perf_counter", TickingClock(0.5))
    capped.decide(train, trials, Deadline(600.0))
    assert capped.steps == 5  # 3 epochs of 2 batches, capped at 5 steps


class LateAnswer:
    """Answers after its safety limit has passed (it never looks at the deadline)."""

    name = "late"

    def __init__(self, clock):
        self.clock = clock

    def decide(self, train, trials, deadline):
        self.clock.now += 30.0
        return [1.0] * len(trials)


class GivesUp:
    name = "gives-up"

    def decide(self, train, trials, deadline):
        raise AdversaryTimeout("my own reason")


def _scored_game(small_game):
    train, trials = small_game
    held_out = [
        type(train[0])(trial.prompt, trial.first, trial.second) for trial in trials
    ]  # LabeledPair: the order is hidden again below
    return Game(train=list(train), held_out=held_out, first_is_teacher=[True] * len(held_out))


def test_an_overrun_is_scored_as_such_with_its_reason(small_game, monkeypatch):
    clock = TickingClock(0.001)
    monkeypatch.setattr(time, "perf_counter", clock)
    score = score_adversary(LateAnswer(clock), _scored_game(small_game), 10.0, run_seed=0)
    assert score.timed_out
    assert (score.correct, score.total) == (0, 0)
    assert score.overrun is not None
    assert "past its safety limit of 10s" in score.overrun
    assert math.isclose(score.seconds, 30.0, abs_tol=0.01)


def test_an_adversary_that_gives_up_is_reported_with_no_false_words(small_game):
    score = score_adversary(GivesUp(), _scored_game(small_game), None, run_seed=0)
    assert score.timed_out
    assert score.overrun is not None
    assert "gave up (AdversaryTimeout) with no safety limit set" in score.overrun
    within = score_adversary(GivesUp(), _scored_game(small_game), 60.0, run_seed=0)
    assert "within its 60s safety limit" in (within.overrun or "")


def test_a_score_that_did_not_overrun_says_so(small_game):
    score = score_adversary(KernelAdversary(), _scored_game(small_game), 60.0, run_seed=0)
    assert not score.timed_out
    assert score.overrun is None
    assert score.total == 8
