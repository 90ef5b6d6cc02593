"""Scripted students and adversaries whose true advantage is known exactly, for the engine's
seeded replications (tests/unit/test_engine_guarantees.py) and its benchmark (bench/engine.py).

Every student answers like ``scripted.teacher_fn`` (one or two sentences of a small grammar)
and adds something the teacher never writes: the verbal tic, or a "secret word".
"""

import random

from scripted import PROMPTS, TIC, sentence

import pytest_bbi as bbi
from pytest_bbi.models import from_callable

SECRET_WORDS = [f"zq{index:03d}x" for index in range(300)]
"""A vocabulary the teacher never uses; the memorizing student ends some answers with one."""


def _answer(prompt, seed):
    rng = random.Random(f"{seed}:{prompt}")
    return rng, " ".join(sentence(rng) for _ in range(rng.choice([1, 2])))


def teacher(prompt, seed):
    """The scripted teacher (the same answers as ``scripted.teacher_fn``)."""
    return _answer(prompt, seed)[1]


def tic_student(rate, telling=None, name=None):
    """A student that appends the tic to ``rate`` of its answers, on ``telling`` prompts only
    (every prompt when None)."""

    def answer(prompt, seed):
        rng, text = _answer(prompt, seed)
        tic = rng.random() < rate and (telling is None or prompt in telling)
        return text + TIC if tic else text

    return from_callable(answer, name=name or f"tic-{rate}-{len(telling or PROMPTS)}")


def secret_word_student(rate):
    """A student that ends ``rate`` of its answers with one of :data:`SECRET_WORDS`, drawn
    uniformly: telling it apart means learning the words, one training pair at a time."""

    def answer(prompt, seed):
        rng, text = _answer(prompt, seed)
        return f"{text} {rng.choice(SECRET_WORDS)}" if rng.random() < rate else text

    return from_callable(answer, name=f"secret-words-{rate}")


TEACHER = from_callable(teacher, name="teacher")


class TicAdversary:
    """Knows the student's only tell: an answer ending with the tic is the student's.

    Its accuracy on a prompt where the student adds the tic at rate r is exactly r + (1 − r)/2
    (the other pairs tie, and the core settles ties with a fair coin): advantage r.
    """

    name = "tic"

    def decide(self, train, trials, deadline):
        return [
            0.0 if trial.first.endswith(TIC) else 1.0 if trial.second.endswith(TIC) else 0.5
            for trial in trials
        ]


class LearnedTicAdversary:
    """Learns from its training pairs which side the tic belongs to, then calls by it.

    Before it has seen a tic it guesses; after, its advantage is exactly the tic rate r. So
    every fit's advantage is at most r: it refits each round of a detect game.
    """

    name = "learned-tic"

    def decide(self, train, trials, deadline):
        student = sum(pair.student.endswith(TIC) for pair in train)
        teacher_side = sum(pair.teacher.endswith(TIC) for pair in train)
        if student == teacher_side:
            return [0.5] * len(trials)
        tic_is_student = student > teacher_side

        def says_first(trial):
            if trial.first.endswith(TIC) == trial.second.endswith(TIC):
                return 0.5
            return float(trial.first.endswith(TIC) != tic_is_student)

        return [says_first(trial) for trial in trials]


class MemorizingAdversary:
    """Names the student by the secret words it has seen in the student's training answers.

    It needs hundreds of training pairs: with T of them and a student that ends a share r of
    its answers with one of V words, it knows about 1 − (1 − 1/V)^{rT} of the words, so its
    advantage grows from nearly 0 after a few pairs to r·(1 − e^{−rT/V}) once fully trained.
    """

    name = "memorizer"

    def decide(self, train, trials, deadline):
        seen = {pair.student.rsplit(" ", 1)[-1] for pair in train}
        known = seen - {pair.teacher.rsplit(" ", 1)[-1] for pair in train}
        known &= set(SECRET_WORDS)

        def says_first(trial):
            first = trial.first.rsplit(" ", 1)[-1] in known
            second = trial.second.rsplit(" ", 1)[-1] in known
            return 0.5 if first == second else float(second)

        return [says_first(trial) for trial in trials]


def verdict(student, budget, prompts=PROMPTS, teacher_model=TEACHER, **kwargs):
    """The verdict, whether the assertion passes or fails."""
    try:
        return bbi.assert_indistinguishable(
            teacher_model, student, prompts, budget=budget, **kwargs
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict
