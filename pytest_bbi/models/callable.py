"""Models backed by a plain Python function: scripted models for tests and custom clients."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.base import (
    AnswerCallback,
    check_completion,
    check_completions,
    ignore_answers,
)
from pytest_bbi.models.code_digest import code_digest

REPORT_SECONDS = 0.05
"""A one-prompt-at-a-time function's completions are handed over at least this often."""


class CallableModel:
    """A :class:`~pytest_bbi.models.Model` that calls a Python function.

    Built with :func:`from_callable`. Its identity is ``callable:<name>:<digest>``, the digest
    of the function's code and of the values it reads
    (:func:`~pytest_bbi.models.code_digest.code_digest`), so editing the function changes the
    identity and the generation cache never serves the completions of its earlier version. It
    is an :class:`~pytest_bbi.models.base.IncrementalModel`: a batched
    function's answer is handed over per call, a one-prompt function's at least every
    ``REPORT_SECONDS`` (so a slow function, a client of a remote model, hands over each
    completion as it returns), and what was answered before an exception is handed over
    before the exception propagates.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str, batched: bool) -> None:
        self.name = name
        self.identity = f"callable:{name}:{code_digest(fn)[:16]}"
        self._fn = fn
        self._batched = batched

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt by calling the wrapped function."""
        return self.generate_incrementally(prompts, seeds, ignore_answers)

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Return one completion per prompt, handing them to ``on_answered`` as they come.

        Raises:
            ModelOutputError: when the function returns something other than the completions.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"generate got {len(prompts)} prompts but {len(seeds)} seeds.")
        if self._batched:
            answer = check_completions(self.name, prompts, self._fn(list(prompts), list(seeds)))
            if answer:
                on_answered(range(len(answer)), answer)
            return answer
        completions: list[str] = []
        handed_over = 0

        def hand_over() -> None:
            nonlocal handed_over
            start, handed_over = handed_over, len(completions)
            if start < handed_over:
                on_answered(range(start, handed_over), completions[start:handed_over])

        last_report = time.monotonic()
        try:
            for index, (prompt, seed) in enumerate(zip(prompts, seeds, strict=True)):
                completions.append(
                    check_completion(self.name, index, prompt, self._fn(prompt, seed))
                )
                if time.monotonic() - last_report >= REPORT_SECONDS:
                    hand_over()
                    last_report = time.monotonic()
        except BaseException:
            hand_over()
            raise
        hand_over()
        return completions

    def __repr__(self) -> str:
        return f"CallableModel(name={self.name!r}, batched={self._batched})"


def from_callable(fn: Callable[..., Any], *, name: str, batched: bool = False) -> CallableModel:
    """Wrap a Python function as a model.

    Args:
        fn: ``fn(prompt: str, seed: int) -> str``, or with ``batched=True``
            ``fn(prompts: list[str], seeds: list[int]) -> list[str]``. The seed is derived by the
            plugin from (run seed, role, prompt, sample index): use it for every random choice so
            a completion is a pure function of its arguments and runs replay exactly.
        name: the model's name in reports; with the digest of ``fn``'s code and of the values
            it reads, its identity in the generation cache. Editing ``fn``, a helper function
            or class of your code that it calls, a constant it reads, its defaults or the
            values it closes over changes the identity; a library upgrade, a file or an
            environment variable it reads does not (rename the model, or run once with
            ``--bbi-cache-clear``, after such a change).
        batched: whether ``fn`` takes whole lists.

    Returns:
        A model usable as ``teacher`` or ``student``.

    Raises:
        ModelSpecError: when ``fn`` is not callable or ``name`` is empty.
    """
    if not callable(fn):
        raise ModelSpecError(
            f"from_callable(fn={fn!r}): fn must be callable, e.g. `lambda prompt, seed: ...`."
        )
    if not isinstance(name, str) or not name.strip():
        raise ModelSpecError(
            "from_callable(name=...): give the model a non-empty name; it identifies the model in "
            "reports and caches."
        )
    return CallableModel(fn, name=name, batched=batched)
