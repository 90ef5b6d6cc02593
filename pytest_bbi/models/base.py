"""The model protocol every backend implements, and the checks on what models return."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_bbi.errors import BackendError, ModelOutputError


@runtime_checkable
class Model(Protocol):
    """A text generator the plugin can query.

    ``generate`` must be a pure function of (model, prompt, seed): the plugin derives each seed
    from (run seed, role, prompt, sample index), so a deterministic backend makes every run
    replayable. Backends batch internally as they see fit.

    Attributes:
        name: a short human-readable name, used in reports.
        identity: a stable string that changes whenever the model's behavior may change
            (weights hash, decoding settings, served model and revision); used for caching.
    """

    name: str
    identity: str

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt, drawing the i-th with ``seeds[i]``."""
        ...


@runtime_checkable
class GreedyModel(Model, Protocol):
    """A model that can give a greedy view of itself: the same weights, decoding at temperature 0.

    :func:`~pytest_bbi.assert_agree` compares the greedy outputs of two models through it,
    whatever decoding their fixtures were configured with. The built-in backends implement it
    (``hf:``, models from :func:`~pytest_bbi.models.from_transformers`, ``openai:`` and
    ``vllm:``).
    """

    def greedy(self) -> Model:
        """The same model decoding greedily, with an identity of its own (greedy decoding)."""
        ...


AnswerCallback = Callable[[Sequence[int], Sequence[str]], None]
"""``on_answered(indices, completions)``: completions that just became final, by prompt index."""


@runtime_checkable
class IncrementalModel(Model, Protocol):
    """A model that hands over each completion as soon as it is answered.

    The generation cache implements ``on_answered`` by storing the completions at once, so a
    fault, an interrupt or ``kill -9`` loses only what was still being generated. The built-in
    backends implement it (``openai:`` and ``vllm:`` per answered request, ``hf:`` per batch,
    callables per call); a model without it is cached a chunk at a time.
    """

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Do what ``generate`` does, reporting completions through ``on_answered`` as they come.

        The contract: every index of ``prompts`` is reported once, with the completion the call
        returns for it, in any order and grouping, possibly from several threads at once; a
        completion is reported as soon as it is final, before the model asks for more work
        where it can (at the latest before the call returns); when the call raises, every
        completion answered before the error has been reported; an exception raised by
        ``on_answered`` stops the generation and propagates.
        """
        ...


def ignore_answers(indices: Sequence[int], completions: Sequence[str]) -> None:
    """An ``on_answered`` that does nothing: ``generate`` of an :class:`IncrementalModel`."""


def hide_when_backend_error(excinfo: Any) -> bool:
    """A ``__tracebackhide__`` value: pytest hides the frame when a server failed.

    A :class:`~pytest_bbi.errors.BackendError`'s message names the endpoint, the model and what
    to check; the plugin's frames between the test and the failed request add nothing to it.
    Any other error keeps them.
    """
    return bool(excinfo.errisinstance(BackendError))


@runtime_checkable
class Scorer(Protocol):
    """A white-box model: it can say how likely it was to return a completion.

    Models that implement it (``hf:`` does) unlock the ``likelihood`` adversary and the
    white-box certificate on every adversary.
    """

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Return, per pair, the natural log-probability that ``generate`` returns the completion.

        The probability is under the model's own decoding distribution (temperature, truncation
        and the stop at end of sequence included); ``-inf`` where the completion cannot occur.
        """
        ...


@runtime_checkable
class TokenScorer(Protocol):
    """A model that can say how sure it was of each token it wrote: its confidence.

    Models that implement it (``hf:`` does) unlock the calibration report of
    :func:`~pytest_bbi.assert_indistinguishable` (``calibrate=True``): the student's mean token
    log-probability against its agreement with the teacher, and a fallback threshold.
    """

    def token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """Return, per pair, the log-probability of each token of the completion.

        The probabilities are the model's raw next-token distribution (the softmax of its
        logits: temperature 1, no top-k or top-p), whatever its decoding, the quantity serving
        stacks report as token log-probabilities. The stop token counts as a token when the
        completion ended with one.
        """
        ...


@runtime_checkable
class ExpectationScorer(Protocol):
    """A token scorer that also says what it expected at each token: its decoding's average.

    Models that implement it (``hf:`` does) sharpen the ``reference`` adversary: a token's
    log-probability minus what the model expected there is centered at 0 on the model's own
    samples, so a student that samples colder or hotter shows as a drift of its sum, free of how
    hard each position was.
    """

    def expected_token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """Return, per pair and token of the completion, the expected raw token log-probability.

        At each position that ``token_log_probs`` reports (the stop token included), the mean of
        the raw log-probability (temperature 1, no truncation) of the next token when it is drawn
        from the model's decoding distribution there (its temperature, top-k and top-p; greedy:
        the most likely token): ``Σ_y p_decoding(y) · log p_raw(y)``. Rows have the lengths of
        ``token_log_probs``' rows.
        """
        ...


def check_scores(model_name: str, completions: Sequence[str], scores: object) -> list[float]:
    """Validate a scorer's answer: one log-probability (a float ≤ 0, or ``-inf``) per completion.

    Args:
        model_name: the model's name, for the message.
        completions: the completions the model scored.
        scores: what the model returned.

    Returns:
        The scores as a list of floats.

    Raises:
        ModelOutputError: on a wrong count, a non-number, NaN, or a positive log-probability.
    """
    try:
        values = [float(value) for value in scores]  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise ModelOutputError(
            f"model {model_name!r} returned {scores!r:.80} from score(); it must return one "
            "log-probability per completion."
        ) from error
    if len(values) != len(completions):
        raise ModelOutputError(
            f"model {model_name!r} returned {len(values)} scores for {len(completions)} "
            "completions; score() must return exactly one log-probability per completion."
        )
    for index, value in enumerate(values):
        if not value <= 1e-6:
            raise ModelOutputError(
                f"model {model_name!r} scored completion {index} ({completions[index]!r:.60}) "
                f"as {value!r}; a log-probability is a number ≤ 0 (or -inf), never NaN."
            )
    return [min(value, 0.0) for value in values]


def check_token_log_probs(
    model_name: str,
    completions: Sequence[str],
    answer: object,
    method: str = "token_log_probs",
) -> list[list[float]]:
    """Validate a token scorer's answer: per completion, a list of finite log-probabilities.

    Args:
        model_name: the model's name, for the message.
        completions: the completions the model scored.
        answer: what the method returned.
        method: the method that answered, for the message (``token_log_probs`` or
            ``expected_token_log_probs``).

    Returns:
        The log-probabilities as lists of floats (each ≤ 0).

    Raises:
        ModelOutputError: on a wrong count, a non-number, or a value that is not a finite
            number ≤ 0.
    """
    try:
        rows = [[float(value) for value in row] for row in answer]  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise ModelOutputError(
            f"model {model_name!r} returned {answer!r:.80} from {method}(); it must "
            "return one list of token log-probabilities per completion."
        ) from error
    if len(rows) != len(completions):
        raise ModelOutputError(
            f"model {model_name!r} returned {len(rows)} rows of token log-probabilities for "
            f"{len(completions)} completions; {method}() must return one per completion."
        )
    for index, row in enumerate(rows):
        for value in row:
            if not (math.isfinite(value) and value <= 1e-6):
                raise ModelOutputError(
                    f"model {model_name!r} gave a token of completion {index} "
                    f"({completions[index]!r:.60}) the log-probability {value!r} in {method}(); "
                    "token log-probabilities of the raw distribution are finite numbers ≤ 0."
                )
    return [[min(value, 0.0) for value in row] for row in rows]


def check_completions(model_name: str, prompts: Sequence[str], completions: object) -> list[str]:
    """Validate a backend's answer: a list of strings, one per prompt.

    Args:
        model_name: the model's name, for the message.
        prompts: the prompts the model was asked.
        completions: what the model returned.

    Returns:
        The completions as a list of strings.

    Raises:
        ModelOutputError: on a wrong count or a non-string completion.
    """
    if isinstance(completions, str) or not isinstance(completions, Sequence):
        raise ModelOutputError(
            f"model {model_name!r} returned {type(completions).__name__}, expected a list of "
            f"{len(prompts)} strings (one completion per prompt)."
        )
    if len(completions) != len(prompts):
        raise ModelOutputError(
            f"model {model_name!r} returned {len(completions)} completions for {len(prompts)} "
            "prompts; a batched model must return exactly one completion per prompt, in order."
        )
    return [
        check_completion(model_name, index, prompt, completion)
        for index, (prompt, completion) in enumerate(zip(prompts, completions, strict=True))
    ]


def check_completion(model_name: str, index: int, prompt: str, completion: object) -> str:
    """Validate one completion: a string.

    Args:
        model_name: the model's name, for the message.
        index: the prompt's position in the call, for the message.
        prompt: the prompt.
        completion: what the model returned for it.

    Returns:
        The completion.

    Raises:
        ModelOutputError: when the completion is not a ``str``.
    """
    if not isinstance(completion, str):
        raise ModelOutputError(
            f"model {model_name!r} returned {type(completion).__name__} "
            f"({completion!r:.60}) for prompt {index} ({prompt!r:.60}); completions "
            "must be str: decode tokens to text before returning."
        )
    return completion
