"""Lazily loaded models: the identity now, the weights on first use (``hf:`` with ``lazy=true``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.base import (
    AnswerCallback,
    ExpectationScorer,
    GreedyModel,
    IncrementalModel,
    Model,
    Scorer,
    TokenScorer,
    ignore_answers,
)
from pytest_bbi.models.uncounted import loading


class LazyModel:
    """A model whose identity is known up front and whose weights load on its first use.

    Behind the generation cache, a run whose completions are all cached never loads it, so a
    warm rerun of a suite with many students costs no model loading. Every method loads the
    model once (thread-safely) and forwards to it. The load is counted and kept out of any
    adversary's safety limit (:func:`pytest_bbi.models.uncounted.loading`).

    Args:
        name: the name in reports.
        identity: the identity the loaded model will have (the cache keys completions by it).
        load: returns the model; called at most once.
    """

    def __init__(self, name: str, identity: str, load: Callable[[], Model]) -> None:
        self.name = name
        self.identity = identity
        self._load = load
        self._model: Model | None = None
        self._loading = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the weights have been loaded."""
        return self._model is not None

    def model(self) -> Model:
        """The loaded model, loading it now if needed."""
        with self._loading:
            if self._model is None:
                with loading(self.name):
                    self._model = self._load()
            return self._model

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Load the model if needed, then generate one completion per prompt."""
        return self.generate_incrementally(prompts, seeds, ignore_answers)

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Load the model if needed, then generate, handing completions over as they come."""
        model = self.model()
        if isinstance(model, IncrementalModel):
            return model.generate_incrementally(prompts, seeds, on_answered)
        completions = model.generate(prompts, seeds)
        if completions:
            on_answered(range(len(completions)), completions)
        return completions

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Load the model if needed, then score each completion (see ``Scorer``)."""
        model = self.model()
        if not isinstance(model, Scorer):
            raise ModelSpecError(f"model {self.name!r} cannot score completions.")
        return model.score(prompts, completions)

    def token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """Load the model if needed, then score each completion's tokens (see ``TokenScorer``)."""
        model = self.model()
        if not isinstance(model, TokenScorer):
            raise ModelSpecError(f"model {self.name!r} cannot score tokens.")
        return model.token_log_probs(prompts, completions)

    def expected_token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """Load the model if needed, then forward (see ``ExpectationScorer``)."""
        model = self.model()
        if not isinstance(model, ExpectationScorer):
            raise ModelSpecError(f"model {self.name!r} cannot say what it expected at a token.")
        return model.expected_token_log_probs(prompts, completions)

    def greedy(self) -> Model:
        """The loaded model's greedy view (see ``GreedyModel``)."""
        model = self.model()
        if not isinstance(model, GreedyModel):
            raise ModelSpecError(f"model {self.name!r} has no greedy view.")
        return model.greedy()

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded yet"
        return f"LazyModel(name={self.name!r}, {state})"
