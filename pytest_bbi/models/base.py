"""The model protocol every backend implements, and the checks on what models return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pytest_bbi.errors import ModelOutputError


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
    for index, completion in enumerate(completions):
        if not isinstance(completion, str):
            raise ModelOutputError(
                f"model {model_name!r} returned {type(completion).__name__} "
                f"({completion!r:.60}) for prompt {index} ({prompts[index]!r:.60}); completions "
                "must be str: decode tokens to text before returning."
            )
    return list(completions)
