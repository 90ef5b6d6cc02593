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


def steady_fn(prompt, seed):
    """A greedy teacher: one fixed answer per prompt, whatever the seed."""
    return f"{prompt.split(':')[0]} is well documented."


class HedgingStudent:
    """Answers as :func:`steady_fn` on most prompts; on every ``unsure_every``-th prompt it
    answers differently and shows it through low token log-probabilities (a calibrated
    student: its confidence says when it disagrees with the teacher)."""

    def __init__(self, unsure_every=4, name="hedging-student"):
        self.unsure_every = unsure_every
        self.name = name
        self.identity = f"{name}:{unsure_every}"
        self.scored = 0

    def _unsure(self, prompt):
        return int(prompt.split()[1].rstrip(":")) % self.unsure_every == 0

    def generate(self, prompts, seeds):
        return [
            f"Maybe {prompt.split()[1].rstrip(':')} is about something."
            if self._unsure(prompt)
            else steady_fn(prompt, seed)
            for prompt, seed in zip(prompts, seeds, strict=True)
        ]

    def token_log_probs(self, prompts, completions):
        self.scored += len(completions)
        return [
            [-2.5 - 0.01 * len(completion)] * len(completion.split())
            if completion.startswith("Maybe")
            else [-0.2 - 0.001 * len(completion)] * len(completion.split())
            for completion in completions
        ]
