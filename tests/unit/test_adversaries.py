"""The built-in adversaries on synthetic games: power on a verbal tic, chance on equal models."""

import json
import subprocess
import sys

import pytest
from synthetic_pairs import accuracy, game, swapped

from pytest_bbi.adversaries import Adversary, AdversaryTimeout, Deadline, LabeledPair, Trial
from pytest_bbi.adversaries.embedding import EmbeddingAdversary
from pytest_bbi.adversaries.stylometric import StylometricAdversary

ADVERSARIES = [StylometricAdversary, EmbeddingAdversary]


@pytest.fixture(params=ADVERSARIES, ids=lambda cls: cls.name)
def adversary(request):
    return request.param()


def test_follows_the_protocol(adversary):
    assert isinstance(adversary, Adversary)
    assert adversary.name in {"stylometric", "embedding"}


def test_catches_a_verbal_tic(adversary):
    train, trials, teacher_first = game(seed=0, tic_rate=0.3)
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert len(probabilities) == len(trials)
    assert accuracy(probabilities, teacher_first) >= 0.6


def test_is_at_chance_on_identical_distributions(adversary):
    train, trials, teacher_first = game(seed=1, tic_rate=0.0)
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert accuracy(probabilities, teacher_first) == pytest.approx(0.5, abs=0.13)


def test_probabilities_are_antisymmetric_and_in_the_unit_interval(adversary):
    train, trials, _ = game(seed=2, tic_rate=0.3, n_train=20, n_trials=20)
    forward = adversary.decide(train, trials, Deadline(None))
    backward = adversary.decide(train, swapped(trials), Deadline(None))
    assert all(0.0 <= p <= 1.0 for p in forward + backward)
    assert backward == pytest.approx([1.0 - p for p in forward], abs=1e-9)
    assert len(set(forward)) > 1


def test_a_spent_deadline_raises(adversary):
    train, trials, _ = game(seed=3, tic_rate=0.3, n_train=10, n_trials=10)
    with pytest.raises(AdversaryTimeout):
        adversary.decide(train, trials, Deadline(1e-9))


def test_one_training_pair_is_enough_to_answer(adversary):
    train = [LabeledPair("Say hi.", "Hello there.", "Hello there. Stay curious!")]
    trials = [
        Trial("Say hi.", "Hi! Stay curious!", "Hi!"),
        Trial("Say bye.", "Goodbye.", "Goodbye."),
        Trial("Say nothing.", "", "Nothing at all."),
    ]
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert len(probabilities) == 3
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities[0] < 0.5
    assert probabilities[1] == 0.5


def test_identical_training_completions_give_coin_flips(adversary):
    train = [LabeledPair("Count.", "One two three.", "One two three.")] * 3
    trials = [Trial("Count.", "One.", "One two three four five.")]
    assert adversary.decide(train, trials, Deadline(None)) == [0.5]


def test_no_training_pairs_or_no_trials(adversary):
    trials = [Trial("Say hi.", "Hi.", "Hello.")]
    assert adversary.decide([], trials, Deadline(None)) == [0.5]
    assert adversary.decide([LabeledPair("Say hi.", "Hi.", "Hello.")], [], Deadline(None)) == []


def test_importing_the_adversaries_loads_no_model_library():
    code = (
        "import json, sys; import pytest_bbi.adversaries.stylometric, "
        "pytest_bbi.adversaries.embedding; print(json.dumps([m for m in "
        "('torch', 'transformers', 'sentence_transformers') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_a_refit_on_the_same_trials_reuses_the_features_and_answers_as_a_fresh_adversary():
    """The refits that measure a fit's spread resample the training pairs and keep the trials:
    every text they need was featurized by the first call, so they featurize nothing again."""
    train, trials, _ = game(seed=4, tic_rate=0.3, n_train=30, n_trials=30)
    resampled = [train[index] for index in (0, 0, 3, 5, 5, 7, 11, 13, 13, 29)]
    adversary = StylometricAdversary()
    featurized = []
    featurize = adversary._featurize
    adversary._featurize = lambda texts, deadline: (
        featurized.append(len(texts)) or featurize(texts, deadline)
    )
    adversary.decide(train, trials, Deadline(None))
    refit = adversary.decide(resampled, trials, Deadline(None))
    assert len(featurized) == 1
    assert refit == StylometricAdversary().decide(resampled, trials, Deadline(None))
    adversary.decide(train, trials[:-1], Deadline(None))  # other trials: another game
    assert len(featurized) == 2
