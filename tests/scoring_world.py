"""A scripted world where a shift shows only to a model that knows the teacher's distribution.

Every prompt has its own preferences over a few of a shared vocabulary of three-letter words,
and an answer is three distinct words drawn by those preferences at a temperature. A student at
a higher temperature picks the same kind of words in the same layout, so its text reads like
the teacher's (same lengths, characters, punctuation, and over many prompts the same words):
only a model that knows each prompt's preferences sees that its words are less likely.
"""

import math
import random

VOCABULARY = [a + b + c for a in "bdgkmpst" for b in "aeiou" for c in "lnrx"]
CANDIDATES = 24
WORDS = 3
UNKNOWN = math.log(1e-6)
PROMPTS = [f"Pick words for case {index}." for index in range(600)]


def preferences(prompt):
    """The prompt's candidate words and their raw log-probabilities (temperature 1)."""
    rng = random.Random(f"world:{prompt}")
    words = rng.sample(VOCABULARY, CANDIDATES)
    logits = [rng.gauss(0.0, 1.5) for _ in words]
    top = max(logits)
    norm = top + math.log(sum(math.exp(value - top) for value in logits))
    return dict(zip(words, [value - norm for value in logits], strict=True))


class WordModel:
    """Answers with three distinct words drawn by the prompt's preferences at ``temperature``;
    scores tokens (words) by the raw preferences, and says what it expected at each word, as a
    local ``hf:`` teacher would."""

    def __init__(self, name, temperature=1.0):
        self.name = name
        self.temperature = temperature
        self.identity = f"words:{name}:{temperature}"
        self.scored = 0
        self.expected = 0
        self.generated = 0

    def generate(self, prompts, seeds):
        self.generated += len(prompts)
        answers = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            rng = random.Random(f"{seed}:{prompt}")
            table = preferences(prompt)
            words, weights = list(table), [math.exp(v / self.temperature) for v in table.values()]
            chosen = []
            for _ in range(WORDS):
                index = rng.choices(range(len(words)), weights)[0]
                chosen.append(words.pop(index))
                weights.pop(index)
            answers.append(" ".join(chosen))
        return answers

    def token_log_probs(self, prompts, completions):
        self.scored += len(completions)
        return [
            [preferences(prompt).get(word, UNKNOWN) for word in completion.split()]
            for prompt, completion in zip(prompts, completions, strict=True)
        ]

    def expected_token_log_probs(self, prompts, completions):
        """At each word, the mean raw preference of the next word as this model draws it: over
        the candidates not chosen yet, weighted by exp(preference / temperature)."""
        self.expected += len(completions)
        rows = []
        for prompt, completion in zip(prompts, completions, strict=True):
            left = dict(preferences(prompt))
            row = []
            for word in completion.split():
                weights = {w: math.exp(v / self.temperature) for w, v in left.items()}
                total = sum(weights.values())
                row.append(sum(weights[w] * left[w] for w in left) / total if left else UNKNOWN)
                left.pop(word, None)
            rows.append(row)
        return rows


class BlackBox:
    """A model's answers with nothing else: no score, no token log-probabilities (an API)."""

    def __init__(self, model):
        self.name = model.name
        self.identity = model.identity
        self._model = model

    def generate(self, prompts, seeds):
        return self._model.generate(prompts, seeds)
