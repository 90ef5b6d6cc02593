"""The kernel adversary on synthetic games: power on a verbal tic, chance on equal models."""

import random

import pytest

from pytest_bbi.adversaries.base import (
    Adversary,
    AdversaryTimeout,
    Deadline,
    LabeledPair,
    Trial,
)
from pytest_bbi.adversaries.kernel import KernelAdversary

SUBJECTS = ["The cat", "A small robot", "My neighbor", "The old library", "Every river"]
SUBJECTS += ["The committee", "A quiet student", "The weather", "Our teacher", "This recipe"]
VERBS = ["likes", "avoids", "remembers", "describes", "builds"]
VERBS += ["questions", "follows", "paints", "explains", "ignores"]
OBJECTS = ["the morning light", "a long journey", "three red apples", "the northern hills"]
OBJECTS += ["an open window", "the final answer", "quiet evenings", "the city map"]
OBJECTS += ["a forgotten song", "the second chapter"]
TAILS = ["", "", " every day", " with great care", " in the spring", " without a word"]
ENDS = [".", ".", ".", "!", "?"]
TIC = " Stay curious!"
KERNELS = ["hamming", "spectrum", "sum"]


def completion(rng, tic):
    text = " ".join(
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        f"{rng.choice(TAILS)}{rng.choice(ENDS)}"
        for _ in range(rng.randint(1, 3))
    )
    return text + TIC if tic else text


def game(seed, tic_rate, n_train=150, n_trials=150):
    """Teacher and student share a grammar; the student adds the tic to ``tic_rate`` of pairs.

    Returns the training pairs, the trials in random order, and whether each trial's first
    completion is the teacher's.
    """
    rng = random.Random(seed)
    tics = set(rng.sample(range(n_train), round(tic_rate * n_train)))
    tics |= {n_train + i for i in rng.sample(range(n_trials), round(tic_rate * n_trials))}
    pairs = [
        (f"Prompt #{i}.", completion(rng, False), completion(rng, i in tics))
        for i in range(n_train + n_trials)
    ]
    train = [LabeledPair(*pair) for pair in pairs[:n_train]]
    trials, teacher_first = [], []
    for prompt, teacher, student in pairs[n_train:]:
        first = rng.random() < 0.5
        trials.append(Trial(prompt, *((teacher, student) if first else (student, teacher))))
        teacher_first.append(first)
    return train, trials, teacher_first


def accuracy(probabilities, teacher_first):
    score = sum(
        0.5 if p == 0.5 else float((p > 0.5) == first)
        for p, first in zip(probabilities, teacher_first, strict=True)
    )
    return score / len(teacher_first)


def swapped(trials):
    return [Trial(t.prompt, t.second, t.first) for t in trials]


def test_follows_the_protocol():
    adversary = KernelAdversary()
    assert isinstance(adversary, Adversary)
    assert adversary.name == "kernel"


def test_catches_a_verbal_tic():
    train, trials, teacher_first = game(seed=0, tic_rate=0.3)
    probabilities = KernelAdversary().decide(train, trials, Deadline(None))
    assert len(probabilities) == len(trials)
    assert accuracy(probabilities, teacher_first) >= 0.6


def test_is_at_chance_on_identical_distributions():
    train, trials, teacher_first = game(seed=1, tic_rate=0.0)
    probabilities = KernelAdversary().decide(train, trials, Deadline(None))
    assert accuracy(probabilities, teacher_first) == pytest.approx(0.5, abs=0.13)


@pytest.mark.parametrize("kernel", KERNELS)
def test_each_kernel_is_antisymmetric_and_in_the_unit_interval(kernel):
    train, trials, _ = game(seed=2, tic_rate=0.3, n_train=60, n_trials=60)
    adversary = KernelAdversary(kernel=kernel)
    forward = adversary.decide(train, trials, Deadline(None))
    backward = adversary.decide(train, swapped(trials), Deadline(None))
    assert all(0.0 <= p <= 1.0 for p in forward + backward)
    assert backward == [1.0 - p for p in forward]
    assert len(set(forward)) > 1


def test_the_spectrum_kernel_catches_the_tic():
    train, trials, teacher_first = game(seed=0, tic_rate=0.3)
    probabilities = KernelAdversary(kernel="spectrum").decide(train, trials, Deadline(None))
    assert accuracy(probabilities, teacher_first) >= 0.6


@pytest.mark.parametrize("kernel", KERNELS)
def test_identical_completions_are_a_coin_flip(kernel):
    train, _, _ = game(seed=4, tic_rate=0.3, n_train=30, n_trials=0)
    trials = [Trial("p", text, text) for text in ["Same answer. Stay curious!", "", "x" * 200]]
    probabilities = KernelAdversary(kernel=kernel).decide(train, trials, Deadline(None))
    assert probabilities == [0.5, 0.5, 0.5]


def test_without_training_pairs_every_trial_is_a_coin_flip():
    _, trials, _ = game(seed=5, tic_rate=0.3, n_train=0, n_trials=5)
    assert KernelAdversary().decide([], trials, Deadline(None)) == [0.5] * 5
    assert KernelAdversary().decide([], [], Deadline(None)) == []


def test_short_texts_and_small_options():
    train = [LabeledPair("p", "ab", "a"), LabeledPair("q", "abc", "é")]
    trials = [Trial("r", "ab", "é"), Trial("s", "", "a")]
    probabilities = KernelAdversary(max_length=1, k=1).decide(train, trials, Deadline(None))
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities[0] > 0.5


def test_a_spent_deadline_raises():
    train, trials, _ = game(seed=3, tic_rate=0.3, n_train=10, n_trials=10)
    with pytest.raises(AdversaryTimeout):
        KernelAdversary().decide(train, trials, Deadline(1e-9))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kernel": "gaussian"}, "kernel must be one of hamming, spectrum, sum"),
        ({"max_length": 0}, "max_length must be at least 1"),
        ({"k": 0}, "k must be at least 1"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        KernelAdversary(**options)
