"""The kernel adversary on synthetic games: power on a verbal tic, chance on equal models."""

import pytest
from synthetic_pairs import accuracy, game, swapped

from pytest_bbi.adversaries.base import (
    Adversary,
    AdversaryTimeout,
    Deadline,
    LabeledPair,
    Trial,
)
from pytest_bbi.adversaries.kernel import KernelAdversary

KERNELS = ["hamming", "spectrum", "sum"]


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
