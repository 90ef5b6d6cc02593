"""Every backend hands completions to the cache as they are answered, so a fault loses none."""

from __future__ import annotations

import pytest

from pytest_bbi.errors import BackendError
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.models import load
from pytest_bbi.models.base import IncrementalModel
from pytest_bbi.models.hf_loader import load_hf
from pytest_bbi.models.tiny import PROMPTS as TINY_PROMPTS

PROMPTS = [f"Prompt {index}: say something." for index in range(40)]
SEEDS = list(range(100, 140))


def test_hf_hands_over_each_batch_and_a_failing_batch_loses_only_itself(
    tiny_teacher_dir, tmp_path, monkeypatch
):
    model = load_hf(tiny_teacher_dir, max_new_tokens=6, batch_size=4)
    assert isinstance(model, IncrementalModel)
    prompts, seeds = list(TINY_PROMPTS[:12]), list(range(12))
    reference = model.generate(prompts, seeds)
    batches = []
    generate_batch = model._generate_chunk

    def fails_on_the_third_batch(batch_prompts, batch_seeds):
        batches.append(len(batch_prompts))
        if len(batches) == 3:
            raise RuntimeError("out of memory")
        return generate_batch(batch_prompts, batch_seeds)

    monkeypatch.setattr(model, "_generate_chunk", fails_on_the_third_batch)
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(RuntimeError, match="out of memory"):
            CachedModel(model, cache).generate(prompts, seeds)
        assert cache.get_many(model.identity, prompts, seeds) == reference[:8] + [None] * 4


def test_openai_keeps_every_answered_completion_when_one_prompt_fails_for_good(
    fake_server, tmp_path
):
    model = load(
        f"openai:fake@{fake_server.base_url}", max_concurrency=4, max_retries=1, max_new_tokens=8
    )
    assert isinstance(model, IncrementalModel)
    fake_server.faults.failing_prompts = {PROMPTS[-1]: 500}
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(BackendError, match=r"answered HTTP 500 after 1 retries") as failure:
            CachedModel(model, cache).generate(PROMPTS, SEEDS)
        assert fake_server.base_url in str(failure.value)
        stored = cache.get_many(model.identity, PROMPTS, SEEDS)
        answered = {(item.prompt, item.seed): item.completion for item in fake_server.answered}
        assert len(answered) == 39
        assert {
            (prompt, seed): text
            for prompt, seed, text in zip(PROMPTS, SEEDS, stored, strict=True)
            if text is not None
        } == answered

        fake_server.requests.clear()
        with pytest.raises(BackendError):
            CachedModel(model, cache).generate(PROMPTS, SEEDS)
        assert dict(fake_server.requests) == {PROMPTS[-1]: 2}  # the rerun asks only for it

        fake_server.faults.failing_prompts = {}
        fake_server.requests.clear()
        cached = CachedModel(model, cache)
        assert cached.generate(PROMPTS, SEEDS)[:39] == stored[:39]
        assert dict(fake_server.requests) == {PROMPTS[-1]: 1}
        assert (cached.hits, cached.misses) == (39, 1)


def test_openai_starts_no_request_after_a_failure_and_keeps_those_in_flight(fake_server, tmp_path):
    model = load(
        f"openai:fake@{fake_server.base_url}", max_concurrency=2, max_retries=0, max_new_tokens=8
    )
    fake_server.faults.failing_prompts = {PROMPTS[3]: 400}
    fake_server.faults.delay_seconds = 0.05
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(BackendError, match="HTTP 400"):
            CachedModel(model, cache).generate(PROMPTS, SEEDS)
        stored = cache.get_many(model.identity, PROMPTS, SEEDS)
    asked = set(fake_server.requests)
    # Prompts 0-3, and at most one more per request thread (taken before the failure was seen).
    assert len(asked) <= 4 + 2
    assert {prompt for prompt, text in zip(PROMPTS, stored, strict=True) if text} == (
        asked - {PROMPTS[3]}
    )
