"""``pytest_bbi.cached`` and the caches every model goes through: once, never twice."""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Sequence

import pytest
from scripted import PROMPTS, teacher_fn

import pytest_bbi as bbi
from pytest_bbi import context
from pytest_bbi.errors import NotAModelError
from pytest_bbi.game.setup import check_model
from pytest_bbi.generation.cache import FILENAME, GenerationCache
from pytest_bbi.generation.cached_model import CachedModel, behind_cache
from pytest_bbi.models import Scorer, TokenScorer, from_callable

SEEDS = list(range(len(PROMPTS)))


class CountingScorer:
    """A white-box model that counts what it is asked: completions, scores, token log-probs."""

    name = "scorer"
    identity = "counting-scorer"

    def __init__(self) -> None:
        self.generated = 0
        self.scored: list[tuple[str, str]] = []
        self.token_scored: list[tuple[str, str]] = []

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        self.generated += len(prompts)
        return [teacher_fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        self.scored += zip(prompts, completions, strict=True)
        return [-math.inf if "never" in text else -0.25 * len(text) for text in completions]

    def token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        self.token_scored += zip(prompts, completions, strict=True)
        return [[-0.5] * len(text.split()) for text in completions]


def test_cached_keeps_completions_in_the_folder_for_the_next_process(tmp_path):
    calls: list[str] = []

    def answer(prompt: str, seed: int) -> str:
        calls.append(prompt)
        return teacher_fn(prompt, seed)

    # Both models are made before any call: `calls` is part of what `answer` reads.
    model, same = from_callable(answer, name="t"), from_callable(answer, name="t")
    with bbi.cached(model, tmp_path / "cache") as cached:
        assert isinstance(cached, CachedModel)
        first = cached.generate(PROMPTS, SEEDS)
    assert len(calls) == len(PROMPTS)
    with bbi.cached(same, tmp_path / "cache") as again:
        assert again.generate(PROMPTS, SEEDS) == first
    assert len(calls) == len(PROMPTS)


def test_cached_defaults_to_bbi_cache_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = bbi.cached(from_callable(teacher_fn, name="t"))
    assert isinstance(model, CachedModel)
    model.generate(PROMPTS[:3], SEEDS[:3])
    model.cache.close()
    assert (tmp_path / ".bbi_cache" / FILENAME).is_file()


def test_a_cached_model_is_never_cached_twice(tmp_path):
    model = bbi.cached(from_callable(teacher_fn, name="t"), tmp_path / "one")
    assert bbi.cached(model, tmp_path / "two") is model
    with GenerationCache(tmp_path / "three") as cache:
        assert behind_cache(model, cache) is model
    assert not (tmp_path / "two").exists()


def test_cached_refuses_what_is_not_a_model_and_says_how_to_make_one(tmp_path):
    with pytest.raises(NotAModelError, match="from_callable"):
        bbi.cached(lambda prompt, seed: prompt, tmp_path)  # type: ignore[arg-type]


def test_scores_and_token_log_probs_are_computed_once_per_pair(tmp_path):
    completions = [teacher_fn(prompt, seed) for prompt, seed in zip(PROMPTS, SEEDS, strict=True)]
    completions[0] = "never said"
    scorer = CountingScorer()
    with GenerationCache(tmp_path) as cache:
        model = CachedModel(scorer, cache)
        assert isinstance(model, Scorer)
        assert isinstance(model, TokenScorer)
        # Python >= 3.12 checks protocols statically (no __getattr__): found on an H200 box's 3.12.
        assert callable(inspect.getattr_static(model, "score"))
        assert callable(inspect.getattr_static(model, "token_log_probs"))
        scores = model.score(PROMPTS + PROMPTS[:5], completions + completions[:5])
        assert scores == scorer.score(PROMPTS + PROMPTS[:5], completions + completions[:5])
        assert scores[0] == -math.inf
        rows = model.token_log_probs(PROMPTS, completions)
    asked = len(scorer.scored)
    assert len(scorer.token_scored) == len(PROMPTS)
    fresh = CountingScorer()
    with GenerationCache(tmp_path) as cache:
        model = CachedModel(fresh, cache)
        assert model.score(PROMPTS, completions) == scores[: len(PROMPTS)]
        assert model.token_log_probs(PROMPTS, completions) == rows
    assert (fresh.scored, fresh.token_scored) == ([], [])
    assert asked == 2 * len(PROMPTS) + 5  # the pairs once, plus the comparison above


def test_a_proxy_of_a_cached_model_of_the_same_identity_does_not_wait_for_itself(tmp_path):
    with GenerationCache(tmp_path) as cache:
        inner = CachedModel(from_callable(teacher_fn, name="t"), cache)

        class Proxy:
            name = inner.name
            identity = inner.identity

            def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
                return inner.generate(prompts, seeds)

        outer = CachedModel(Proxy(), cache)
        done: list[list[str]] = []
        worker = threading.Thread(target=lambda: done.append(outer.generate(PROMPTS, SEEDS)))
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the proxy waited for its own lock"
    assert done == [[teacher_fn(prompt, seed) for prompt, seed in zip(PROMPTS, SEEDS, strict=True)]]


def test_outside_the_plugin_a_checked_model_is_not_cached():
    model = from_callable(teacher_fn, name="t")
    restore = context.activate(context.TestContext())  # what a script sees
    try:
        assert check_model(model, "teacher") is model
    finally:
        restore()


def test_the_context_cache_is_applied_to_every_checked_model(tmp_path):
    with GenerationCache(tmp_path) as cache:
        restore = context.activate(
            context.TestContext(cache=lambda model: behind_cache(model, cache))
        )
        try:
            model = from_callable(teacher_fn, name="t")
            checked = check_model(model, "teacher")
            assert isinstance(checked, CachedModel)
            assert checked.model is model
            assert check_model(checked, "teacher") is checked
        finally:
            restore()
