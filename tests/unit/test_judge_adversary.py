"""The judge adversary: robust parsing, A/B-swap accounting, seeds, and the game end to end."""

import random
import re

import pytest
from scripted import PROMPTS, teacher_fn, tic_fn
from synthetic_pairs import TIC, accuracy, game

import pytest_bbi as bbi
from pytest_bbi.adversaries import Binding, Deadline, Explaining, resolve
from pytest_bbi.adversaries.judge import JudgeAdversary, parse_choice
from pytest_bbi.errors import AdversaryError, ModelOutputError
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import from_callable

_LAST_BLOCK = re.compile(r"Response A: (.*)\nResponse B: (.*)\nThe teacher wrote response$")


@pytest.mark.parametrize(
    ("answer", "choice"),
    [
        (" A", "A"),
        ("B", "B"),
        (" b.", "B"),
        ("a) because it is terse", "A"),
        ("Response B is the teacher's", "B"),
        ("Answer: (a)", "A"),
        ("the teacher is 2", "B"),
        ("I think the first one", "A"),
        ("The second.", "B"),
        ("A ripe banana is yellow.", None),
        ("the first, no, the second", None),
        ("", None),
        ("hmm", None),
    ],
)
def test_parses_the_judges_answer_robustly(answer, choice):
    assert parse_choice(answer) == choice


def spotter(questions, seeds):
    """Names as teacher the response without the tic; guesses (by seed) when that says nothing."""
    answers = []
    for question, seed in zip(questions, seeds, strict=True):
        a, b = _LAST_BLOCK.search(question).groups()
        if (TIC.strip() in a) != (TIC.strip() in b):
            answers.append("B" if TIC.strip() in a else "A")
        else:
            answers.append(random.Random(seed).choice(["A", "B", "no idea"]))
    return answers


SPOTTER = from_callable(spotter, name="spotter", batched=True)


def judged(judge, seed=0, **kwargs):
    adversary = JudgeAdversary(judge, **kwargs)
    assert adversary.bind(SPOTTER, SPOTTER, seed) is None
    return adversary


def test_follows_the_protocols_and_is_registered():
    adversary = JudgeAdversary(SPOTTER)
    assert isinstance(adversary, bbi.Adversary)
    assert isinstance(adversary, Binding)
    assert isinstance(adversary, Explaining)
    assert "judge" in bbi.adversaries.available()


def test_a_judge_that_sees_the_tic_beats_chance_and_reports_both_accountings():
    train, trials, teacher_first = game(seed=0, tic_rate=0.4)
    adversary = judged(SPOTTER)
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert set(probabilities) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert accuracy(probabilities, teacher_first) >= 0.62
    correct = [(p > 0.5) == first for p, first in zip(probabilities, teacher_first, strict=True)]
    details = adversary.explain(correct)
    assert details["consistent"] + details["inconsistent"] <= len(trials)
    assert details["unparsable"] > 0
    # Tic pairs are always consistent and right; consistent-only accuracy is inflated by them.
    assert details["consistent_correct"] / details["consistent"] > accuracy(
        probabilities, teacher_first
    )


def test_on_equal_models_the_judge_is_at_chance():
    train, trials, teacher_first = game(seed=1, tic_rate=0.0)
    probabilities = judged(SPOTTER).decide(train, trials, Deadline(None))
    assert accuracy(probabilities, teacher_first) == pytest.approx(0.5, abs=0.13)


def test_a_position_biased_judge_is_all_inconsistent_and_counted_as_coin_flips():
    always_a = from_callable(lambda prompt, seed: "A", name="always-a")
    train, trials, _ = game(seed=2, tic_rate=0.4, n_trials=30)
    adversary = judged(always_a)
    assert adversary.decide(train, trials, Deadline(None)) == [0.5] * 30
    details = adversary.explain([True] * 30)
    assert details == {
        "consistent": 0,
        "consistent_correct": 0,
        "inconsistent": 30,
        "unparsable": 0,
    }


def test_judge_prompts_are_few_shot_and_seeded_from_the_run_seed_with_role_judge():
    seen = []

    def recorder(questions, seeds):
        seen.append((questions, seeds))
        return ["A"] * len(questions)

    train, trials, _ = game(seed=3, tic_rate=0.4, n_train=10, n_trials=4)
    adversary = judged(from_callable(recorder, name="recorder", batched=True), seed=7, shots=3)
    adversary.decide(train, trials, Deadline(None))
    questions, seeds = seen[0]
    assert len(questions) == 8
    assert seeds == [derive_seed(7, "judge", question) for question in questions]
    assert questions[0].count("The teacher wrote response") == 4  # three shots and the question
    assert f"Response A: {trials[0].first}" in questions[0]
    assert f"Response A: {trials[0].second}" in questions[4]  # the swapped order
    assert train[0].teacher in questions[0]
    assert train[3].teacher not in questions[0]


def test_without_a_judge_model_it_does_not_play_and_says_why():
    adversary = resolve(["judge"])[0]
    assert "no judge model" in adversary.bind(SPOTTER, SPOTTER, 0)
    with pytest.raises(AdversaryError, match="no judge model"):
        adversary.decide([], [], Deadline(None))
    with pytest.raises(ValueError, match="shots"):
        JudgeAdversary(SPOTTER, shots=-1)


def test_a_broken_judge_fails_the_test():
    broken = from_callable(lambda prompts, seeds: ["A"], name="broken", batched=True)
    train, trials, _ = game(seed=4, tic_rate=0.4, n_train=4, n_trials=4)
    with pytest.raises(ModelOutputError, match="'broken' returned 1 completions"):
        judged(broken).decide(train, trials, Deadline(None))


def test_in_the_game_the_failure_names_its_examples_and_both_accountings():
    student = from_callable(lambda p, s: tic_fn(p, s, rate=0.5), name="tic-student")
    teacher = from_callable(teacher_fn, name="teacher")
    budget = bbi.Budget(queries=120, adversaries=[JudgeAdversary(SPOTTER)])
    prompts = {"math": PROMPTS[:25], "style": PROMPTS[25:]}
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(teacher, student, prompts, budget=budget, epsilon=0.05, seed=0)
    verdict = failure.value.verdict
    result = verdict.adversaries["judge"]
    per_bucket = [bucket.adversaries["judge"].details for bucket in verdict.buckets.values()]
    assert result.details["consistent"] == sum(d["consistent"] for d in per_bucket) > 0
    message = str(failure.value)
    assert "judge (math): consistent=" in message
    assert "judge (math): the held-out pairs it was most sure of" in message
    assert "Stay curious!" in message


def test_a_judge_that_raises_fails_the_game_with_its_error():
    def exploding(prompts, seeds):
        raise RuntimeError("judge endpoint exploded")

    budget = bbi.Budget(
        queries=20,
        adversaries=[JudgeAdversary(from_callable(exploding, name="x", batched=True))],
    )
    teacher = from_callable(teacher_fn, name="teacher")
    with pytest.raises(RuntimeError, match="judge endpoint exploded"):
        bbi.assert_indistinguishable(teacher, teacher, PROMPTS, budget=budget, epsilon=0.1)
