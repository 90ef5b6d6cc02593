"""The openai backend against a real vLLM server on loopback: behavior, scoring, faults."""

from __future__ import annotations

import random

import pytest

import pytest_bbi as bbi
from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.models import Model, load
from pytest_bbi.models.hf_loader import load_hf
from pytest_bbi.models.tiny import PROMPTS as TINY_PROMPTS

PROMPTS = list(TINY_PROMPTS[:16])
TOKENS = 12
REAL_VLLM = pytest.mark.slow
"""Tests against a real vLLM server (its virtualenv is built on first use, the server starts in
about a minute on 2 cores): run with --runslow. The fault handling they share with every
OpenAI-compatible server is tested against the fake server in the default run
(tests/models/test_openai_faults.py and the two proxy tests below)."""


def served(base_url: str, **options) -> Model:
    return load(f"openai:smollm2@{base_url}", max_new_tokens=TOKENS, **options)


@REAL_VLLM
def test_generates_text_through_completions_and_chat(vllm_base_url):
    model = served(vllm_base_url)
    assert isinstance(model, Model)
    assert model.name == "smollm2"
    completions = model.generate(PROMPTS[:4], [1, 2, 3, 4])
    assert all(isinstance(text, str) and text for text in completions)
    chat = served(vllm_base_url, chat=True, system_prompt="Answer in one word.")
    [answer] = chat.generate(["What is the capital of France?"], [0])
    assert answer.strip()
    assert chat.identity != model.identity
    assert model.generate([], []) == []


@REAL_VLLM
def test_same_prompt_and_seed_give_the_same_completion_under_any_concurrency(vllm_base_url):
    seeds = list(range(100, 100 + len(PROMPTS)))
    reference = served(vllm_base_url, max_concurrency=8).generate(PROMPTS, seeds)
    serial = served(vllm_base_url, max_concurrency=1).generate(PROMPTS, seeds)
    order = list(range(len(PROMPTS)))
    random.Random(0).shuffle(order)
    shuffled = served(vllm_base_url, max_concurrency=4).generate(
        [PROMPTS[i] for i in order], [seeds[i] for i in order]
    )
    assert serial == reference
    assert [shuffled[order.index(i)] for i in range(len(PROMPTS))] == reference


@REAL_VLLM
def test_seeds_matter_and_greedy_ignores_them(vllm_base_url):
    model = served(vllm_base_url)
    prompt = PROMPTS[0]
    draws = model.generate([prompt] * 12, list(range(12)))
    assert len(set(draws)) >= 6, draws
    greedy = served(vllm_base_url, temperature=0)
    assert greedy.generate(PROMPTS[:6], list(range(6))) == greedy.generate(PROMPTS[:6], [9] * 6)


@REAL_VLLM
def test_greedy_completions_match_the_hf_backend_on_the_same_weights(vllm_base_url, smollm2_dir):
    # Two engines, the same fp32 weights: greedy decoding agrees except at near-ties.
    remote = served(vllm_base_url, temperature=0).generate(PROMPTS, [0] * len(PROMPTS))
    local = load_hf(smollm2_dir, temperature=0, max_new_tokens=TOKENS, chat=False).generate(
        PROMPTS, [0] * len(PROMPTS)
    )
    agreeing = sum(a.strip() == b.strip() for a, b in zip(remote, local, strict=True))
    assert agreeing >= 0.75 * len(PROMPTS), list(zip(remote, local, strict=True))


@REAL_VLLM
def test_scores_through_token_and_echo_log_probabilities(vllm_base_url):
    model = served(vllm_base_url)
    assert hasattr(model, "score")
    seeds = list(range(len(PROMPTS)))
    completions = model.generate(PROMPTS, seeds)
    from_generation = model.score(PROMPTS, completions)
    from_echo = served(vllm_base_url).score(PROMPTS, completions)
    assert all(value < 0 for value, text in zip(from_generation, completions, strict=True) if text)
    close = sum(abs(a - b) < 1e-2 for a, b in zip(from_generation, from_echo, strict=True))
    # Re-tokenizing prompt + completion can merge tokens across the boundary; most rows align.
    assert close >= 0.75 * len(PROMPTS), list(zip(from_generation, from_echo, strict=True))
    # A completion is likelier under the model than the same words shuffled.
    shuffled = [" ".join(reversed(text.split())) for text in completions]
    assert sum(
        own > other for own, other in zip(from_echo, model.score(PROMPTS, shuffled), strict=True)
    ) >= 0.75 * len(PROMPTS)
    assert not hasattr(served(vllm_base_url, temperature=0.7), "score")
    assert not hasattr(served(vllm_base_url, echo_score=False), "score")


@REAL_VLLM
def test_plays_the_game_like_the_hf_backend(vllm_base_url):
    budget = bbi.Budget(queries=48, adversaries=["stylometric"])
    teacher = served(vllm_base_url, name="teacher")
    same = served(vllm_base_url, name="copy")
    verdict = bbi.assert_indistinguishable(
        teacher, same, PROMPTS, budget=budget, epsilon=0.2, seed=5
    )
    assert verdict.passed
    truncated = load(f"openai:smollm2@{vllm_base_url}", max_new_tokens=3, name="truncated")
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(
            teacher, truncated, PROMPTS, budget=budget, epsilon=0.2, seed=5
        )
    assert failure.value.verdict.advantage > 0.5


@REAL_VLLM
def test_retries_a_503_and_then_succeeds(fault_proxy, vllm_base_url):
    direct = served(vllm_base_url).generate(PROMPTS[:2], [7, 8])
    fault_proxy.faults.fail_next = 2
    through_proxy = served(fault_proxy.base_url, max_concurrency=1, max_retries=3)
    assert through_proxy.generate(PROMPTS[:2], [7, 8]) == direct
    statuses = [record.get("status") for record in fault_proxy.faults.seen]
    assert statuses[:2] == ["503", "503"]
    assert fault_proxy.faults.answered == 2


@REAL_VLLM
def test_a_server_that_dies_mid_run_fails_clearly_and_keeps_every_answered_completion(
    fault_proxy, vllm_base_url, tmp_path
):
    seeds = list(range(12))
    expected = served(vllm_base_url).generate(PROMPTS[:12], seeds)
    fault_proxy.faults.dead_after = 10
    model = served(fault_proxy.base_url, max_concurrency=1, max_retries=1)
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(model, cache, chunk_size=4)
        with pytest.raises(BackendError, match="refused or dropped the connection") as failure:
            cached.generate(PROMPTS[:12], seeds)
        assert fault_proxy.base_url in str(failure.value)
        stored = cache.get_many(model.identity, PROMPTS[:12], seeds)
    assert stored[:10] == expected[:10]  # all ten answers, not just the two whole chunks
    assert stored[10:] == [None] * 2


def test_a_slow_server_times_out_after_the_retries(fake_fault_proxy):
    fake_fault_proxy.faults.delay_seconds = 3.0
    model = served(fake_fault_proxy.base_url, timeout=0.5, max_retries=1)
    with pytest.raises(BackendError, match=r"timed out after 0\.5s per attempt, 1 retries"):
        model.generate(PROMPTS[:1], [0])
    assert len(fake_fault_proxy.faults.seen) == 2


def test_the_api_key_comes_from_the_environment_and_is_never_shown(fake_fault_proxy, monkeypatch):
    fault_proxy = fake_fault_proxy
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("BBI_TEST_KEY", secret)
    model = served(fault_proxy.base_url, api_key_env="BBI_TEST_KEY", max_retries=0)
    model.generate(PROMPTS[:1], [0])
    assert fault_proxy.faults.seen[-1]["authorization"] == f"Bearer {secret}"
    fault_proxy.faults.fail_next, fault_proxy.faults.fail_status = 1, 401
    with pytest.raises(BackendError, match="api_key_env") as failure:
        model.generate(PROMPTS[1:2], [0])
    for shown in (model.identity, repr(model), str(failure.value), repr(failure.value)):
        assert secret not in shown
    monkeypatch.delenv("BBI_TEST_KEY")
    with pytest.raises(ModelSpecError, match=r"'BBI_TEST_KEY'.*not set"):
        served(fault_proxy.base_url, api_key_env="BBI_TEST_KEY")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("@http://127.0.0.1:1/v1", "names no model"),
        ("m@http://user:pw@127.0.0.1:1/v1", "carries credentials"),
    ],
)
def test_rejects_malformed_targets(target, message):
    with pytest.raises(ModelSpecError, match=message):
        load(f"openai:{target}")


@pytest.mark.parametrize(
    "option", [{"max_concurrency": 0}, {"timeout": 0}, {"max_retries": -1}, {"top_p": 0}]
)
def test_rejects_bad_options(option):
    with pytest.raises(ModelSpecError, match=next(iter(option))):
        load("openai:m@http://127.0.0.1:1/v1", **option)


def test_the_identity_follows_model_revision_and_decoding_not_the_key(monkeypatch):
    base = "openai:m@http://127.0.0.1:1/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "one")
    first = load(base).identity
    monkeypatch.setenv("OPENAI_API_KEY", "two")
    assert load(base).identity == first
    assert load(base, revision="2026-11").identity != first
    assert load(base, temperature=0.5).identity != first
    assert load("openai:other@http://127.0.0.1:1/v1").identity != first
