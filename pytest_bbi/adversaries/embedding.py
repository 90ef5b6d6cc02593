"""The embedding adversary: MiniLM sentence embeddings of completions, compared pairwise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.cached_embeddings import embeddings
from pytest_bbi.adversaries.pairwise import Features, PairwiseAdversary
from pytest_bbi.adversaries.stylometric import style_features


class EmbeddingAdversary(PairwiseAdversary):
    """Tells the models apart by meaning: where their completions land in embedding space.

    Each completion is embedded with the offline all-MiniLM-L6-v2 model, through the session's
    feature cache (:func:`~pytest_bbi.adversaries.cached_embeddings.embeddings`), joined
    by its dense style features (:func:`~pytest_bbi.adversaries.stylometric.style_features`,
    cheap, and they sharpen the embedding: a tic appended to a long completion barely moves its
    mean-pooled embedding). An antisymmetric logistic regression on the feature difference of
    the two completions decides which one is the teacher's (see
    :func:`~pytest_bbi.adversaries.pairwise.decide_pairwise`).

    Its work cap: one encoder pass per distinct text the cache lacks (MiniLM reads at most its
    256 first tokens) and at most ``max_iter`` iterations of a seeded, deterministic solver, so
    its answer is a pure function of its inputs, however busy the machine.

    Args:
        c: inverse L2 regularization strength of the logistic regression.
        batch_size: texts per encoder call; the deadline is checked between calls.
        max_iter: the most iterations of the logistic regression's solver.

    Attributes:
        name: ``"embedding"``.
    """

    name = "embedding"

    def __init__(self, *, c: float = 0.5, batch_size: int = 64, max_iter: int = 1000) -> None:
        super().__init__(c=c, max_iter=max_iter)
        self.batch_size = batch_size

    def _featurize(self, texts: Sequence[str], deadline: Deadline) -> Features:
        # The encoder loads on the first miss; the load is setup, not counted against t.
        vectors = embeddings(texts, deadline, batch_size=self.batch_size)
        return np.hstack([vectors, style_features(texts)]), None
