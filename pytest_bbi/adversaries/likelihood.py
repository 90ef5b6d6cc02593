"""The likelihood adversary: the likelihood-ratio rule when both models can score completions."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial
from pytest_bbi.errors import AdversaryError
from pytest_bbi.models.base import Model, Scorer, check_scores


def cannot_score(teacher: Model, student: Model) -> str | None:
    """Why the two models are not white-box, or ``None`` when both implement ``score``.

    Args:
        teacher: the reference model.
        student: the model under test.

    Returns:
        A one-line reason naming the models without ``score(prompts, completions)``, or None.
    """
    missing = [
        f"{role} {model.name!r}"
        for role, model in (("teacher", teacher), ("student", student))
        if not isinstance(model, Scorer)
    ]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} cannot score completions (no score(prompts, completions) "
        "method returning log-probabilities); white-box adversaries need both models to score"
    )


def _posterior(log_teacher_first: float, log_student_first: float) -> float:
    """P(first is the teacher's) = e^a / (e^a + e^b), exactly 0.5 when the two are equal."""
    if log_teacher_first == log_student_first:  # both -inf included: no evidence either way
        return 0.5
    logit = log_teacher_first - log_student_first
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    return math.exp(logit) / (1.0 + math.exp(logit))


class LikelihoodAdversary:
    """The Neyman–Pearson optimal pairwise adversary: it asks both models how likely each is.

    For a trial (x, a, b) it compares log p_T(a|x) + log p_S(b|x) ("a is the teacher's") with
    log p_T(b|x) + log p_S(a|x) ("b is"), and returns the posterior probability of the first,
    e^{ℓ₁} / (e^{ℓ₁} + e^{ℓ₂}). With a uniform prior on the order this is the Bayes-optimal rule
    for the pairwise game, so no adversary that sees the same pair does better in expectation.
    It needs no training pairs. It plays only when both models implement
    :class:`~pytest_bbi.models.Scorer` (``hf:`` models do) and scores under each model's own
    decoding distribution; scoring counts against the safety limit t. Its work: one scoring
    call per model over the trials' completions, no training and no clock.

    Attributes:
        name: ``"likelihood"``.
        learns: ``False``: the rule uses no training pairs, so it is never refitted.
    """

    name = "likelihood"
    learns = False

    def __init__(self) -> None:
        self._models: tuple[Scorer, Scorer, str, str] | None = None

    def bind(self, teacher: Model, student: Model, run_seed: int = 0) -> str | None:
        """Keep the models when both can score; otherwise say why the adversary cannot play.

        Args:
            teacher: the reference model.
            student: the model under test.
            run_seed: unused: the rule is deterministic.

        Returns:
            None when both models implement ``score``, else the reason.
        """
        if isinstance(teacher, Scorer) and isinstance(student, Scorer):
            self._models = (teacher, student, teacher.name, student.name)
            return None
        return cannot_score(teacher, student)

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> list[float]:
        """Score both completions of every trial under both models; return the posteriors.

        Args:
            train: unused: the rule needs no training.
            trials: held-out pairs in hidden order.
            deadline: the safety limit, checked between the two models' scoring calls.

        Returns:
            P(first is the teacher's) for every trial, in order.

        Raises:
            AdversaryError: when the adversary was not bound to two scoring models.
            AdversaryTimeout: when the safety limit passes.
        """
        if self._models is None:
            raise AdversaryError(
                "the likelihood adversary was not bound to a teacher and a student; the game "
                "calls bind(teacher, student) first (both models must implement score())."
            )
        deadline.check()
        if not trials:
            return []
        teacher, student, teacher_name, student_name = self._models
        prompts = [t.prompt for t in trials] * 2
        completions = [t.first for t in trials] + [t.second for t in trials]
        log_t = check_scores(teacher_name, completions, teacher.score(prompts, completions))
        deadline.check()
        log_s = check_scores(student_name, completions, student.score(prompts, completions))
        deadline.check()
        n = len(trials)
        return [_posterior(log_t[i] + log_s[n + i], log_t[n + i] + log_s[i]) for i in range(n)]
