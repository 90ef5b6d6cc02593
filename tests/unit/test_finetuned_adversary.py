"""The finetuned adversary: power on a verbal tic, chance on equal models, budget and replay."""

import pytest
from synthetic_pairs import accuracy, game, swapped

import pytest_bbi as bbi
from pytest_bbi.adversaries import AdversaryTimeout, Deadline, LabeledPair, Trial, resolve
from pytest_bbi.adversaries.finetuned import FinetunedAdversary


@pytest.fixture(scope="module")
def adversary():
    return FinetunedAdversary()


class StepDeadline(Deadline):
    """Unlimited, except that it has passed after ``allowed`` checks."""

    def __init__(self, allowed):
        super().__init__(100.0)
        self.allowed = allowed

    def expired(self):
        self.allowed -= 1
        return self.allowed < 0


def test_is_registered_and_follows_the_protocol(adversary):
    assert isinstance(adversary, bbi.Adversary)
    assert isinstance(resolve(["finetuned"])[0], FinetunedAdversary)


@pytest.mark.slow
def test_catches_a_verbal_tic_and_replays_exactly(adversary):
    train, trials, teacher_first = game(seed=0, tic_rate=0.4, n_train=80, n_trials=100)
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert accuracy(probabilities, teacher_first) >= 0.62
    assert adversary.steps == 4 * 5  # 4 epochs of 80 pairs in batches of 16
    assert FinetunedAdversary().decide(train, trials, Deadline(None)) == probabilities


@pytest.mark.slow
def test_is_at_chance_on_identical_distributions(adversary):
    train, trials, teacher_first = game(seed=1, tic_rate=0.0, n_train=80, n_trials=100)
    probabilities = adversary.decide(train, trials, Deadline(None))
    assert accuracy(probabilities, teacher_first) == pytest.approx(0.5, abs=0.13)


def test_is_antisymmetric_and_identical_completions_are_coin_flips(adversary):
    train, trials, _ = game(seed=2, tic_rate=0.4, n_train=16, n_trials=8)
    trials = [*trials, Trial("Same?", "Yes.", "Yes.")]
    forward = adversary.decide(train, trials, Deadline(None))
    backward = adversary.decide(train, swapped(trials), Deadline(None))
    assert backward == pytest.approx([1.0 - p for p in forward], abs=1e-6)
    assert forward[-1] == 0.5
    assert len(set(forward[:-1])) > 1


def test_a_limit_passed_mid_training_is_an_overrun_never_a_shorter_training(adversary):
    train, trials, _ = game(seed=3, tic_rate=0.4, n_train=64, n_trials=8)
    # checks: one on entry, one per 64 texts through the frozen layers (144 texts: 3), then
    # one after every training step
    with pytest.raises(AdversaryTimeout, match="past its safety limit of 100s"):
        adversary.decide(train, trials, StepDeadline(allowed=6))
    assert adversary.steps == 3  # it stopped at the check after the third step, and raised


def test_a_spent_deadline_raises(adversary):
    train, trials, _ = game(seed=4, tic_rate=0.4, n_train=8, n_trials=4)
    with pytest.raises(AdversaryTimeout):
        adversary.decide(train, trials, Deadline(1e-9))


def test_no_training_pairs_or_no_trials(adversary):
    trials = [Trial("Say hi.", "Hi.", "Hello.")]
    assert adversary.decide([], trials, Deadline(None)) == [0.5]
    assert adversary.decide([LabeledPair("Say hi.", "Hi.", "Hello.")], [], Deadline(None)) == []


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="layers"):
        FinetunedAdversary(layers=7)
    with pytest.raises(ValueError, match="epochs"):
        FinetunedAdversary(epochs=0)
