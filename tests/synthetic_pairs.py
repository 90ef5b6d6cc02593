"""Synthetic identification games with a known answer: a shared grammar and a verbal tic."""

import random

from pytest_bbi.adversaries import LabeledPair, Trial

SUBJECTS = [
    "The cat",
    "A small robot",
    "My neighbor",
    "The old library",
    "Every river",
    "The committee",
    "A quiet student",
    "The weather",
    "Our teacher",
    "This recipe",
]
VERBS = [
    "likes",
    "avoids",
    "remembers",
    "describes",
    "builds",
    "questions",
    "follows",
    "paints",
    "explains",
    "ignores",
]
OBJECTS = [
    "the morning light",
    "a long journey",
    "three red apples",
    "the northern hills",
    "an open window",
    "the final answer",
    "quiet evenings",
    "the city map",
    "a forgotten song",
    "the second chapter",
]
TAILS = ["", "", " every day", " with great care", " in the spring", " without a word"]
ENDS = [".", ".", ".", "!", "?"]
TIC = " Stay curious!"

N_TRAIN = 150
N_TRIALS = 150


def completion(rng, tic):
    sentences = (
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        f"{rng.choice(TAILS)}{rng.choice(ENDS)}"
        for _ in range(rng.randint(1, 3))
    )
    text = " ".join(sentences)
    return text + TIC if tic else text


def game(seed, tic_rate, n_train=N_TRAIN, n_trials=N_TRIALS):
    """Teacher and student sample the same grammar; the student ends ``tic_rate`` of its
    completions (exactly that share of training pairs and of trials) with the tic.

    Returns the training pairs, the trials in random order, and whether each trial's first
    completion is the teacher's.
    """
    rng = random.Random(seed)
    tics = set(rng.sample(range(n_train), round(tic_rate * n_train)))
    tics |= {n_train + i for i in rng.sample(range(n_trials), round(tic_rate * n_trials))}
    pairs = [
        (f"Tell me something, #{i}.", completion(rng, False), completion(rng, i in tics))
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
    """The share of correct identifications, a probability of exactly 0.5 counting one half."""
    score = sum(
        0.5 if p == 0.5 else float((p > 0.5) == first)
        for p, first in zip(probabilities, teacher_first, strict=True)
    )
    return score / len(teacher_first)


def swapped(trials):
    return [Trial(t.prompt, t.second, t.first) for t in trials]
