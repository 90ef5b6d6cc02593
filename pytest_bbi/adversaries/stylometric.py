"""The stylometric adversary: surface-style features and hashed n-grams, compared pairwise."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.pairwise import Features, PairwiseAdversary
from pytest_bbi.text import encodable

_PUNCTUATION = ".,!?:;\"'()[]{}-*#…—"
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")
_BULLET_LINE = re.compile(r"^\s*[-*•+]\s", re.MULTILINE)
_NUMBERED_LINE = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
_TRAILING = (".", "!", "?", ":", ")", '"')


def style_features(texts: Sequence[str]) -> NDArray[np.float64]:
    """Dense surface-style features of each text, one row per text.

    Counts enter as ``log1p`` so that differences read as ratios; rates and flags enter as they
    are. The features: length in characters, words and sentences; mean and longest word; words per
    sentence; type-token ratio; one count per punctuation mark; punctuation, uppercase, digit,
    whitespace and non-ASCII rates; capitalized words; newlines, blank, bullet and numbered lines,
    code fences; the closing mark (one flag each), trailing whitespace and a capital opening.

    Args:
        texts: the completions.

    Returns:
        An array of shape ``(len(texts), n_features)``.
    """
    rows = [_style_vector(text) for text in texts]
    return np.array(rows, dtype=np.float64).reshape(len(texts), _N_STYLE_FEATURES)


def _style_vector(text: str) -> list[float]:
    n_chars = len(text)
    chars = max(n_chars, 1)
    words = _WORD.findall(text)
    n_words = len(words)
    lengths = [len(w) for w in words]
    n_sentences = max(len(_SENTENCE_END.findall(text)), 1 if text.strip() else 0)
    letters = sum(map(str.isalpha, text))
    lines = text.split("\n")
    stripped = text.rstrip()
    last = stripped[-1:] if stripped else ""
    vector = [
        math.log1p(n_chars),
        math.log1p(n_words),
        math.log1p(n_sentences),
        sum(lengths) / n_words if n_words else 0.0,
        math.log1p(max(lengths, default=0)),
        math.log1p(n_words / n_sentences) if n_sentences else 0.0,
        len({w.lower() for w in words}) / n_words if n_words else 0.0,
    ]
    vector += [math.log1p(text.count(mark)) for mark in _PUNCTUATION]
    vector += [
        sum(text.count(mark) for mark in _PUNCTUATION) / chars,
        sum(map(str.isupper, text)) / max(letters, 1),
        sum(map(str.isdigit, text)) / chars,
        sum(map(str.isspace, text)) / chars,
        (n_chars - sum(map(str.isascii, text))) / chars,
        sum(w[0].isupper() for w in words) / n_words if n_words else 0.0,
        math.log1p(text.count("\n")),
        math.log1p(sum(1 for line in lines if not line.strip()) if n_chars else 0),
        math.log1p(len(_BULLET_LINE.findall(text))),
        math.log1p(len(_NUMBERED_LINE.findall(text))),
        math.log1p(text.count("```")),
    ]
    vector += [float(last == mark) for mark in _TRAILING]
    vector += [
        float(last.isalnum()),
        float(stripped != text),
        float(text[:1].isupper()),
    ]
    return vector


_N_STYLE_FEATURES = len(_style_vector(""))


class StylometricAdversary(PairwiseAdversary):
    r"""Tells the models apart by style: lengths, punctuation, layout and recurring phrases.

    Each completion becomes dense style features (:func:`style_features`) plus hashed word
    uni/bigrams and character 3–5-grams, so a recurring phrase or verbal tic is caught (a
    surrogate code point enters the n-grams as its ``\udXXX`` escape). An
    antisymmetric logistic regression on the feature difference of the two completions decides
    which one is the teacher's (see :func:`~pytest_bbi.adversaries.pairwise.decide_pairwise`).

    Its work cap: ``n_features`` hashed features per n-gram family and at most ``max_iter``
    solver iterations (a seeded, deterministic solver), so its answer is a pure function of its
    inputs, however busy the machine.

    Args:
        c: inverse L2 regularization strength of the logistic regression.
        n_features: hashed features per n-gram family (words, characters).
        max_iter: the most iterations of the logistic regression's solver.

    Attributes:
        name: ``"stylometric"``.
        n_features: hashed features per n-gram family.
    """

    name = "stylometric"

    def __init__(self, *, c: float = 0.5, n_features: int = 2**13, max_iter: int = 1000) -> None:
        super().__init__(c=c, max_iter=max_iter)
        self.n_features = n_features
        self._words = HashingVectorizer(
            analyzer="word", ngram_range=(1, 2), n_features=n_features, alternate_sign=False
        )
        self._chars = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 5),
            lowercase=False,
            n_features=n_features,
            alternate_sign=False,
        )

    def _featurize(self, texts: Sequence[str], deadline: Deadline) -> Features:
        dense = style_features(texts)
        deadline.check()
        valid = [encodable(text) for text in texts]  # the n-gram hashing needs valid Unicode
        hashed = sparse.hstack(
            [self._words.transform(valid), self._chars.transform(valid)], format="csr"
        )
        return dense, hashed
