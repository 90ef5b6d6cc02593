"""Scripted models with known behavior, shared by the unit and plugin tests."""

import random

SUBJECTS = ["The model", "A student", "Our teacher", "This system", "The answer", "Each layer"]
VERBS = ["explains", "describes", "summarizes", "predicts", "computes", "outlines"]
OBJECTS = [
    "the capital of France",
    "a short poem",
    "the derivative of x squared",
    "why the sky is blue",
    "a sorting algorithm",
    "the history of Rome",
]
ENDINGS = [".", ".", ".", " quickly.", " in detail.", " briefly."]
TIC = " Stay curious!"


def sentence(rng):
    """One sentence of the scripted grammar, drawn with ``rng``."""
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
    return " ".join(words) + rng.choice(ENDINGS)


def teacher_fn(prompt, seed):
    """The scripted teacher: one or two sentences, a pure function of (prompt, seed)."""
    rng = random.Random(f"{seed}:{prompt}")
    return " ".join(sentence(rng) for _ in range(rng.choice([1, 2])))


def tic_fn(prompt, seed, rate=0.3):
    """The teacher's distribution, with a stylistic tic appended to ``rate`` of the outputs."""
    rng = random.Random(f"{seed}:{prompt}")
    text = " ".join(sentence(rng) for _ in range(rng.choice([1, 2])))
    return text + TIC if rng.random() < rate else text


PROMPTS = [f"Question {index}: tell me about topic {index}." for index in range(50)]
