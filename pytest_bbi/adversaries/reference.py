"""The reference adversary: a local model scores both completions; the student need not score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.local import PromptedPairwise, local_scorer, prompted
from pytest_bbi.adversaries.pairwise import FeatureMemo, Features
from pytest_bbi.errors import ModelOutputError
from pytest_bbi.models.base import (
    ExpectationScorer,
    Model,
    TokenScorer,
    check_token_log_probs,
)

_CONFIDENT = float(np.log(0.5))  # a token above it was the scorer's most likely choice
_SURPRISING = float(np.log(0.01))
_QUANTILES = (0.1, 0.25, 0.5)
_WIDTH = 10
_CENTERED_WIDTH = 3

CENTERED_SUM = _WIDTH
"""The column of :func:`token_features` that holds Σ (log p − expectation): the one feature the
reference adversary plays on when its scorer says what it expected."""


def token_features(
    rows: Sequence[Sequence[float]], expected: Sequence[Sequence[float]] | None = None
) -> NDArray[np.float64]:
    """Per completion, what its token log-probabilities under the scorer say about it.

    The features: the mean, standard deviation and minimum of the token log-probabilities;
    their 10th, 25th and 50th percentiles; the share of tokens above log ½ (the scorer's most
    likely token: a rank statistic) and below log 1/100 (tokens it found surprising); the
    total (the completion's log-likelihood); and log(1 + tokens). With ``expected`` (what the
    scorer expected at each token, see :class:`~pytest_bbi.models.base.ExpectationScorer`),
    three more: the sum and the mean of each token's log-probability minus its expectation —
    the score of the completion in the scorer's inverse temperature, 0 on average over the
    scorer's own samples and the locally most powerful statistic against a student that
    samples at another temperature — and the sum of the expectations (how sure the scorer was
    along the completion's path). A completion without tokens has zeros.

    Args:
        rows: per completion, its token log-probabilities (each ≤ 0).
        expected: per completion, the scorer's expected log-probability at each of its tokens
            (rows as long as ``rows``'), or ``None``.

    Returns:
        An array of shape ``(len(rows), 10)``, or ``(len(rows), 13)`` with ``expected``.

    Raises:
        ValueError: when a row of ``expected`` is not as long as its row of ``rows``.
    """
    width = _WIDTH + (_CENTERED_WIDTH if expected is not None else 0)
    features = np.zeros((len(rows), width))
    for index, row in enumerate(rows):
        if not row:
            continue
        values = np.asarray(row, dtype=np.float64)
        features[index, :_WIDTH] = [
            values.mean(),
            values.std(),
            values.min(),
            *np.quantile(values, _QUANTILES),
            np.mean(values > _CONFIDENT),
            np.mean(values < _SURPRISING),
            values.sum(),
            np.log1p(values.size),
        ]
        if expected is None:
            continue
        means = np.asarray(expected[index], dtype=np.float64)
        if means.shape != values.shape:
            raise ValueError(
                f"completion {index} has {values.size} token log-probabilities but "
                f"{means.size} expectations; the two must describe the same tokens."
            )
        centered = values - means
        features[index, _WIDTH:] = [centered.sum(), centered.mean(), means.sum()]
    return features


class ReferenceAdversary(PromptedPairwise):
    """Scores both completions with a local model and learns which of the two is the teacher's.

    The strongest adversary against a black-box student (an API, a model without ``score()``):
    a scoring model — the teacher when it can score tokens (``hf:``), else the session's
    reference model (``--bbi-reference``), or the one passed here — gives the token
    log-probabilities of both completions of every pair, and the antisymmetric pairwise logistic
    regression of :func:`~pytest_bbi.adversaries.pairwise.decide_pairwise` learns from them.
    When the scorer also says what it expected at each token
    (:class:`~pytest_bbi.models.base.ExpectationScorer`, as ``hf:`` models do), the rule reads one
    number per completion, the centered log-likelihood Σ (log p − expectation)
    (:data:`CENTERED_SUM`): 0 on average over the scorer's own samples, above it for a student
    that samples colder, below it for one that samples hotter, and away from it for one that
    answers otherwise than the scorer would. Otherwise it reads the ten numbers of
    :func:`token_features` without expectations (mean, spread, minimum and percentiles of the
    token log-probabilities, the share of the scorer's top tokens and of surprising ones, the
    log-likelihood, the length). One number rather than all thirteen because, learned from the
    few training pairs of a realistic budget, the extra twelve weights cost more than they add:
    on SmolLM2 against six distortions the centered sum alone was as accurate on held-out pairs
    as all thirteen features, within about a standard error, or more accurate (by 2–7 points
    against a temperature or a system-prompt change; ``bench/REFERENCE_FEATURES.md``).

    Scores go through the session's caches, keyed by the scoring model's identity, the prompt
    and the completion, so a warm rerun computes none (and a lazily loaded ``hf:`` reference
    loads no weights). Scoring counts against the safety limit t; loading the model does not.
    Its work cap: one scoring call over the new completions and at most ``max_iter`` iterations
    of the seeded solver, so its answer is a pure function of its inputs. It cannot play, and
    the verdict says why, when no scoring model exists. It joins the default class when a
    scorer exists and the ``likelihood`` adversary cannot play (see
    :func:`~pytest_bbi.adversaries.local.joins_default_class`).

    Args:
        scorer: the scoring model; ``None`` takes the teacher when it can score tokens, else
            the session's reference model.
        c: inverse L2 regularization strength of the logistic regression.
        max_iter: the most iterations of the logistic regression's solver.

    Attributes:
        name: ``"reference"``.
    """

    name = "reference"

    def __init__(
        self, scorer: Model | None = None, *, c: float = 1.0, max_iter: int = 1000
    ) -> None:
        self.scorer = scorer
        self.c = c
        self.max_iter = max_iter
        self._bound: Model | None = None
        self._memo = FeatureMemo()
        self._unbound = (
            "the reference adversary has no scoring model; the game calls "
            "bind(teacher, student) first, or pass ReferenceAdversary(scorer=model)."
        )

    def bind(self, teacher: Model, student: Model, run_seed: int = 0) -> str | None:
        """Find the scoring model; return why the adversary cannot play when there is none.

        Args:
            teacher: the reference model of the game; it scores when it can score tokens.
            student: unused: the adversary needs nothing of the student but its completions.
            run_seed: unused: the rule is deterministic.

        Returns:
            None when a scoring model exists, else the reason, naming ``--bbi-reference``.
        """
        found = local_scorer(teacher, self.scorer, "ReferenceAdversary(scorer=model)")
        if isinstance(found, str):
            return found
        self._bound, self._memo = found, FeatureMemo()  # features of another scorer are stale
        return None

    def _featurize(self, keys: Sequence[str], deadline: Deadline) -> Features:
        scorer = self._bound
        assert isinstance(scorer, TokenScorer)  # bind() kept only a token scorer
        prompts, completions = prompted(keys)
        name = getattr(scorer, "name", "reference")
        rows = check_token_log_probs(
            name, completions, scorer.token_log_probs(prompts, completions)
        )
        expected = None
        if isinstance(scorer, ExpectationScorer):
            method = "expected_token_log_probs"
            answer = scorer.expected_token_log_probs(prompts, completions)
            expected = check_token_log_probs(name, completions, answer, method)
        deadline.check()
        try:
            features = token_features(rows, expected)
        except ValueError as error:
            raise ModelOutputError(f"model {name!r}: {error}") from error
        return (features if expected is None else features[:, [CENTERED_SUM]]), None
