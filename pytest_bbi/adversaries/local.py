"""The local scoring model of the adversaries that need no ``score()`` from the student.

The ``reference`` and ``rank`` adversaries ask a model they can run locally how likely each
completion is (its token log-probabilities), and ``rank`` also samples it. That model is, in
order: the one passed to the adversary; the teacher, when it can score tokens (``hf:`` can);
the session's reference model (``--bbi-reference`` / ini ``bbi_reference``). Under the plugin
it goes through the session's caches, so its scores and samples are computed once per cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pytest_bbi import context
from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial
from pytest_bbi.adversaries.pairwise import FeatureMemo, Features, Featurizer, decide_pairwise
from pytest_bbi.errors import AdversaryError
from pytest_bbi.models.base import Model, Scorer, TokenScorer

HOW_TO_ADD = (
    "configure a local causal LM with --bbi-reference=hf:path/to/model-dir (ini "
    "bbi_reference), or pass {construct}"
)


def local_scorer(teacher: Model, given: Model | None, construct: str) -> Model | str:
    """The model that scores completions for an adversary, behind the caches, or why none can.

    Args:
        teacher: the teacher of the game.
        given: the model passed to the adversary, if any; it comes first.
        construct: how to pass a model to the adversary, for the message (e.g.
            ``"ReferenceAdversary(scorer=model)"``).

    Returns:
        The scoring model (behind the session's caches under the plugin), or a one-line reason
        naming the fix when there is none.
    """
    if given is None and isinstance(teacher, TokenScorer):
        given = teacher
    if given is None:
        load_session_reference = context.current().reference
        if load_session_reference is None:
            return (
                f"no model can score completions locally: the teacher {teacher.name!r} has no "
                "token_log_probs(prompts, completions) (an API teacher has none) and no "
                f"reference model is configured; {HOW_TO_ADD.format(construct=construct)}"
            )
        given = load_session_reference()
    if not isinstance(given, TokenScorer):
        return (
            f"the scoring model {given.name!r} has no token_log_probs(prompts, completions); "
            "use a local causal LM (hf:) or a model that implements pytest_bbi.models.TokenScorer"
        )
    return context.current().cache(given)


def scorer_available(teacher: Model) -> bool:
    """Whether :func:`local_scorer` finds a model without one being passed (nothing is loaded).

    Args:
        teacher: the teacher of the game.
    """
    return isinstance(teacher, TokenScorer) or context.current().reference is not None


def joins_default_class(teacher: Model, student: Model) -> bool:
    """Whether the ``reference`` adversary joins the default class for this pair of models.

    It does when a local scorer exists (:func:`scorer_available`) and the ``likelihood``
    adversary cannot play (the two models do not both implement
    :class:`~pytest_bbi.models.Scorer`): when both score, the likelihood-ratio rule is the
    optimal pairwise adversary and a reference scorer adds cost, not power.

    Args:
        teacher: the teacher of the game.
        student: the model under test.
    """
    white_box = isinstance(teacher, Scorer) and isinstance(student, Scorer)
    return not white_box and scorer_available(teacher)


def _key(prompt: str, completion: str) -> str:
    return json.dumps([prompt, completion])


def decide_on_prompted_pairs(
    train: Sequence[LabeledPair],
    trials: Sequence[Trial],
    deadline: Deadline,
    featurize: Featurizer,
    *,
    c: float,
    max_iter: int,
    memo: FeatureMemo,
) -> list[float]:
    """The pairwise learner's P(first is the teacher's) per trial, featurizing (prompt, text).

    A score depends on the prompt as well as the text, while
    :func:`~pytest_bbi.adversaries.pairwise.decide_pairwise` featurizes texts: each completion
    is handed to ``featurize`` as a key naming (prompt, completion), so the same completion
    under two prompts is two rows. :func:`prompted` reads keys back.
    """
    keyed_train = [
        LabeledPair(p.prompt, _key(p.prompt, p.teacher), _key(p.prompt, p.student)) for p in train
    ]
    keyed_trials = [
        Trial(t.prompt, _key(t.prompt, t.first), _key(t.prompt, t.second)) for t in trials
    ]
    return decide_pairwise(
        keyed_train, keyed_trials, deadline, featurize, c=c, max_iter=max_iter, memo=memo
    )


class PromptedPairwise:
    """The reference and rank adversaries' common part: a bound local model, one decision.

    A local model is bound for each game, and the pairwise learner decides on features of each
    (prompt, completion).

    A subclass sets ``c``, ``max_iter``, ``_bound`` (``None`` until ``bind``), ``_memo``,
    ``_unbound`` (what to do when ``decide`` runs unbound) and implements ``_featurize``.
    """

    c: float
    max_iter: int
    _bound: Model | None
    _memo: FeatureMemo
    _unbound: str

    def _featurize(self, keys: Sequence[str], deadline: Deadline) -> Features:
        raise NotImplementedError

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> list[float]:
        """Fit on the training pairs' features; return P(first is the teacher's) per trial.

        Args:
            train: training pairs with roles revealed.
            trials: held-out pairs in hidden order.
            deadline: the safety limit, checked between featurizing and fitting.

        Returns:
            One probability in [0, 1] per trial.

        Raises:
            AdversaryError: when the adversary was not bound to a local model.
            AdversaryTimeout: when the safety limit passes.
        """
        if self._bound is None:
            raise AdversaryError(self._unbound)
        return decide_on_prompted_pairs(
            train,
            trials,
            deadline,
            self._featurize,
            c=self.c,
            max_iter=self.max_iter,
            memo=self._memo,
        )


def prompted(keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """The prompts and completions that keys made by :func:`decide_on_prompted_pairs` name."""
    pairs = [json.loads(key) for key in keys]
    return [str(prompt) for prompt, _ in pairs], [str(completion) for _, completion in pairs]
