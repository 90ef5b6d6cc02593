"""Models backed by a plain Python function: scripted models for tests and custom clients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.base import check_completions


class CallableModel:
    """A :class:`~pytest_bbi.models.Model` that calls a Python function.

    Built with :func:`from_callable`; its identity is its name, so give different functions
    different names.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str, batched: bool) -> None:
        self.name = name
        self.identity = f"callable:{name}"
        self._fn = fn
        self._batched = batched

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt by calling the wrapped function."""
        if self._batched:
            answer = self._fn(list(prompts), list(seeds))
        else:
            answer = [self._fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]
        return check_completions(self.name, prompts, answer)

    def __repr__(self) -> str:
        return f"CallableModel(name={self.name!r}, batched={self._batched})"


def from_callable(fn: Callable[..., Any], *, name: str, batched: bool = False) -> CallableModel:
    """Wrap a Python function as a model.

    Args:
        fn: ``fn(prompt: str, seed: int) -> str``, or with ``batched=True``
            ``fn(prompts: list[str], seeds: list[int]) -> list[str]``. The seed is derived by the
            plugin from (run seed, role, prompt, sample index): use it for every random choice so
            a completion is a pure function of its arguments and runs replay exactly.
        name: the model's name in reports, and its identity (keep it unique per behavior).
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
