"""Shared pairwise machinery: an antisymmetric logistic regression on completion differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial

Features = tuple[NDArray[np.float64], Any]
"""Per-text features: a dense block (one row per text) and a sparse CSR block or ``None``."""

Featurizer = Callable[[Sequence[str], Deadline], Features]
"""Maps texts to their :data:`Features`, calling ``deadline.check()`` between expensive steps."""

_MIN_SCALE = 1e-12


class FeatureMemo:
    """The features of one call's texts, kept for the refits that follow it on the same trials.

    The refits that measure a fit's spread (:mod:`pytest_bbi.game.refits`) call ``decide``
    again with a resample of the training pairs and the very same held-out trials: every text
    they need was featurized by the call before. Reusing those rows, rather than featurizing
    again, makes a refit cost one solver run. The memo answers only a call with the same trials
    whose texts it holds, and keeps one entry, so it never outlives the game that filled it.
    """

    def __init__(self) -> None:
        self._trials: tuple[tuple[str, str], ...] | None = None
        self._row: dict[str, int] = {}
        self._features: Features | None = None

    def lookup(
        self, trials: Sequence[Trial], texts: Sequence[str]
    ) -> tuple[dict[str, int], Features] | None:
        """The stored rows and features when they cover ``texts`` for these trials, else None."""
        if self._features is None or self._trials != _trial_key(trials):
            return None
        if any(text not in self._row for text in texts):
            return None
        return self._row, self._features

    def store(self, trials: Sequence[Trial], row: dict[str, int], features: Features) -> None:
        """Keep one call's rows and features, replacing what was kept before."""
        self._trials, self._row, self._features = _trial_key(trials), row, features


class PairwiseAdversary:
    """Base of the adversaries that featurize texts and decide by :func:`decide_pairwise`.

    A subclass gives ``name`` and ``_featurize``; this class holds the solver's settings and
    the :class:`FeatureMemo` its refits reuse.

    Args:
        c: inverse L2 regularization strength of the logistic regression.
        max_iter: the most iterations of the logistic regression's solver.
    """

    name: str

    def __init__(self, *, c: float, max_iter: int) -> None:
        self.c = c
        self.max_iter = max_iter
        self._memo = FeatureMemo()

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> list[float]:
        """Fit on ``train`` and return P(first is the teacher's) for every trial, in order.

        Args:
            train: training pairs with roles revealed.
            trials: held-out pairs in hidden order.
            deadline: the safety limit, checked between steps.

        Returns:
            One probability in [0, 1] per trial.

        Raises:
            AdversaryTimeout: when the safety limit passes.
        """
        return decide_pairwise(
            train,
            trials,
            deadline,
            self._featurize,
            c=self.c,
            max_iter=self.max_iter,
            memo=self._memo,
        )

    def features(self, texts: Sequence[str]) -> Features:
        """The features of ``texts``, one row per text, with no safety limit (for exports)."""
        return self._featurize(texts, Deadline(None))

    def fit_rule(self, train: Sequence[LabeledPair]) -> PairwiseRule:
        """Fit on ``train`` as :meth:`decide` does, and return the fitted rule as a score.

        The fit is the one ``decide`` makes on the same training pairs (same features, scale
        and seeded solver), so the rule calls every trial as ``decide`` does.

        Args:
            train: training pairs with roles revealed (at least one).

        Returns:
            The rule: P(a is the teacher's) = σ(score(a) − score(b)).
        """
        texts = list(dict.fromkeys([p.teacher for p in train] + [p.student for p in train]))
        row = {text: i for i, text in enumerate(texts)}
        features = self.features(texts)
        model, scale = _fit(train, row, features, c=self.c, max_iter=self.max_iter)
        weights = np.asarray(model.coef_, dtype=np.float64).ravel()
        width = features[0].shape[1]
        return PairwiseRule(
            dense=weights[:width] / scale,
            sparse=None if features[1] is None else weights[width:],
        )

    def _featurize(self, texts: Sequence[str], deadline: Deadline) -> Features:
        raise NotImplementedError


@dataclass(frozen=True)
class PairwiseRule:
    """A fitted pairwise rule read as one score per text.

    The logistic regression has no intercept and reads φ(a) − φ(b), so its logit splits into
    score(a) − score(b) with score(x) = w·φ(x) (the dense block divided by its scale): the
    higher the score, the more teacher-like the text, by the rule's own measure.

    Attributes:
        dense: the weights of the dense features, already divided by their scale.
        sparse: the weights of the sparse features, or ``None`` when there are none.
    """

    dense: NDArray[np.float64]
    sparse: NDArray[np.float64] | None

    def scores(self, features: Features) -> NDArray[np.float64]:
        """The score of every text whose :data:`Features` are given, one per row."""
        dense, sparse_block = features
        result = np.asarray(dense, dtype=np.float64) @ self.dense
        if self.sparse is not None and sparse_block is not None:
            result = result + np.asarray(sparse_block @ self.sparse, dtype=np.float64).ravel()
        return np.asarray(result, dtype=np.float64)


def _trial_key(trials: Sequence[Trial]) -> tuple[tuple[str, str], ...]:
    return tuple((trial.first, trial.second) for trial in trials)


def decide_pairwise(
    train: Sequence[LabeledPair],
    trials: Sequence[Trial],
    deadline: Deadline,
    featurize: Featurizer,
    *,
    c: float,
    max_iter: int = 1000,
    memo: FeatureMemo | None = None,
) -> list[float]:
    """Score trials with a logistic regression on φ(first) − φ(second), antisymmetric by design.

    Each training pair is presented in both orders (teacher first → label 1, student first →
    label 0) and the model has no intercept, so P(teacher first | a, b) = 1 − P(teacher first |
    b, a) holds exactly. The dense block is scaled by the root mean square of the training
    differences (their mean is zero by construction, so this is standardization without an
    offset); the sparse block is used as given.

    Args:
        train: training pairs with roles revealed.
        trials: held-out pairs in hidden order.
        deadline: the safety limit, checked between steps.
        featurize: computes the features of a list of distinct texts.
        c: inverse L2 regularization strength of the logistic regression.
        max_iter: the work cap: the most iterations of the (seeded, deterministic) solver.
        memo: where the adversary keeps its last call's features, so a refit on the same
            trials reuses them (see :class:`FeatureMemo`); ``None`` featurizes every call.

    Returns:
        P(first is the teacher's) for every trial, in order; 0.5 for all without training pairs.

    Raises:
        AdversaryTimeout: when the safety limit passes.
    """
    deadline.check()
    if not trials:
        return []
    if not train:
        return [0.5] * len(trials)
    texts = list(
        dict.fromkeys(
            [p.teacher for p in train]
            + [p.student for p in train]
            + [t.first for t in trials]
            + [t.second for t in trials]
        )
    )
    remembered = None if memo is None else memo.lookup(trials, texts)
    if remembered is None:
        row = {text: i for i, text in enumerate(texts)}
        features = featurize(texts, deadline)
        if memo is not None:
            memo.store(trials, row, features)
    else:
        row, features = remembered
    dense, sparse_block = features
    deadline.check()
    model, scale = _fit(train, row, (dense, sparse_block), c=c, max_iter=max_iter)
    deadline.check()

    trial_dense, trial_sparse = _differences(
        row, (dense, sparse_block), [t.first for t in trials], [t.second for t in trials]
    )
    logits = model.decision_function(_assemble(trial_dense / scale, trial_sparse))
    return [float(p) for p in expit(logits)]


def _differences(
    row: dict[str, int], features: Features, a: Sequence[str], b: Sequence[str]
) -> Features:
    """φ(a) − φ(b), row by row, for texts featurized at the rows ``row`` names."""
    dense, sparse_block = features
    ia = np.fromiter((row[t] for t in a), dtype=np.intp, count=len(a))
    ib = np.fromiter((row[t] for t in b), dtype=np.intp, count=len(b))
    sparse_diff = None if sparse_block is None else sparse_block[ia] - sparse_block[ib]
    return dense[ia] - dense[ib], sparse_diff


def _fit(
    train: Sequence[LabeledPair],
    row: dict[str, int],
    features: Features,
    *,
    c: float,
    max_iter: int,
) -> tuple[LogisticRegression, NDArray[np.float64]]:
    """The antisymmetric logistic regression on the training pairs, and the dense scale."""
    train_dense, train_sparse = _differences(
        row, features, [p.teacher for p in train], [p.student for p in train]
    )
    scale = np.sqrt(np.mean(train_dense**2, axis=0))
    scale[scale < _MIN_SCALE] = 1.0
    x_train = _assemble(train_dense / scale, train_sparse)
    x_both = (
        sparse.vstack([x_train, -x_train], format="csr")
        if sparse.issparse(x_train)
        else np.vstack([x_train, -x_train])
    )
    y_both = np.concatenate([np.ones(len(train), dtype=int), np.zeros(len(train), dtype=int)])
    model = LogisticRegression(
        C=c, fit_intercept=False, max_iter=max_iter, solver="liblinear", random_state=0
    )
    model.fit(x_both, y_both)
    return model, scale


def _assemble(dense: NDArray[np.float64], sparse_part: Any) -> Any:
    """Join a dense and an optional sparse block column-wise (CSR), or keep a lone dense one."""
    if sparse_part is None:
        return dense
    return sparse.hstack([sparse.csr_matrix(dense), sparse_part], format="csr")
