"""The hf: backend on tiny local models: loading, seeded batch-invariant decoding, identity."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
import threading
import time

import pytest
import torch

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models import Model
from pytest_bbi.models.hf import HFModel
from pytest_bbi.models.hf_loader import load_hf
from pytest_bbi.models.sampling import GumbelMaxSampler, truncate
from pytest_bbi.models.tiny import STUDENT_TIC, VARIANTS, build_tiny_model

PLACES = ["France", "Italy", "Spain", "Japan", "Egypt", "Peru", "Kenya", "Canada"]
PLACES += ["Germany", "Chile", "India", "Norway", "Ghana", "Cuba", "Iran", "Fiji"]
TEMPLATES = [
    "Q: what is the capital of {}? A:",
    "Q: what color is the flag of {}? A:",
    "Q: how many legs does a cat in {} have? A:",
    "Q: what do people in {} drink? A:",
]
PROMPTS = [template.format(place) for template in TEMPLATES for place in PLACES]
MAX_NEW_TOKENS = 12


@pytest.fixture(scope="module")
def sampler(tiny_teacher_dir) -> HFModel:
    return load_hf(tiny_teacher_dir, max_new_tokens=MAX_NEW_TOKENS, batch_size=64)


@pytest.fixture(scope="module")
def greedy(tiny_teacher_dir) -> HFModel:
    return load_hf(tiny_teacher_dir, temperature=0, max_new_tokens=MAX_NEW_TOKENS, batch_size=64)


def generate_with(model: HFModel, batch_size: int, prompts: list[str], seeds: list[int]):
    saved, model.batch_size = model.batch_size, batch_size
    try:
        return model.generate(prompts, seeds)
    finally:
        model.batch_size = saved


def agreement(model: HFModel, seed_sets: list[list[int]]) -> tuple[float, int]:
    """Share of rows equal to the full-batch reference over batch sizes 1, 8 and a shuffle."""
    order = list(range(len(PROMPTS)))
    random.Random(0).shuffle(order)
    same = total = 0
    for seeds in seed_sets:
        reference = generate_with(model, 64, PROMPTS, seeds)
        for batch_size in (1, 8):
            found = generate_with(model, batch_size, PROMPTS, seeds)
            same += sum(a == b for a, b in zip(found, reference, strict=True))
            total += len(reference)
        shuffled = generate_with(model, 16, [PROMPTS[i] for i in order], [seeds[i] for i in order])
        same += sum(shuffled[j] == reference[i] for j, i in enumerate(order))
        total += len(reference)
    return same / total, total


def test_loads_and_generates_text(tiny_teacher_dir, tiny_student_dir, greedy):
    assert isinstance(greedy, Model)
    assert greedy.name == "teacher"
    assert load_hf(tiny_teacher_dir, name="t", device="cpu").name == "t"
    prompt = "Q: what is the capital of France? A:"
    [answer] = greedy.generate([prompt], [0])
    assert isinstance(answer, str)
    assert "Paris" in answer
    student = load_hf(tiny_student_dir, temperature=0, max_new_tokens=40)
    [student_answer] = student.generate([prompt], [0])
    assert "Paris" in student_answer
    assert student_answer.endswith(STUDENT_TIC)
    assert not answer.endswith(STUDENT_TIC)
    assert greedy.generate([], []) == []


def test_greedy_is_deterministic_and_batch_invariant(greedy):
    first = greedy.generate(PROMPTS, [0] * len(PROMPTS))
    assert greedy.generate(PROMPTS, [0] * len(PROMPTS)) == first
    rate, rows = agreement(greedy, [[0] * len(PROMPTS)])
    assert rate >= 0.98, f"greedy batch invariance {rate:.2%} over {rows} rows"


def test_sampling_is_batch_invariant(sampler):
    seed_sets = [[base * 1000 + i for i in range(len(PROMPTS))] for base in range(3)]
    seed_sets[0][0] = 2**63 - 1
    rate, rows = agreement(sampler, seed_sets)
    assert rate >= 0.98, f"sampled batch invariance {rate:.2%} over {rows} rows"


def test_different_seeds_give_different_draws(sampler):
    prompt = "Q: what do people in Fiji drink? A:"
    draws = sampler.generate([prompt] * 32, list(range(32)))
    assert len(set(draws)) >= 8, draws
    assert sampler.generate([prompt] * 32, list(range(32))) == draws
    first = sampler.generate(PROMPTS, list(range(64)))
    second = sampler.generate(PROMPTS, list(range(64, 128)))
    assert sum(a != b for a, b in zip(first, second, strict=True)) >= 16


def test_temperature_zero_ignores_seeds(greedy):
    assert greedy.generate(PROMPTS, list(range(64))) == greedy.generate(PROMPTS, [7] * 64)


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_and_top_p_truncate(tiny_teacher_dir, greedy, truncation):
    narrow = load_hf(tiny_teacher_dir, max_new_tokens=MAX_NEW_TOKENS, batch_size=64, **truncation)
    assert narrow.generate(PROMPTS, list(range(64))) == greedy.generate(PROMPTS, [0] * 64)


def test_gumbel_max_samples_the_tempered_softmax():
    logits = torch.tensor([[0.0, math.log(3.0), -math.inf]])
    draws = 4000
    sampler = GumbelMaxSampler(range(draws), prompt_length=5, temperature=1.0, top_p=1.0, top_k=0)
    scores = sampler(torch.zeros((draws, 7), dtype=torch.long), logits.expand(draws, -1))
    assert bool(torch.isfinite(scores).sum(dim=-1).eq(1).all())
    share = scores[:, 1].eq(0).float().mean().item()
    assert abs(share - 0.75) < 0.03
    assert not bool(scores[:, 2].eq(0).any())
    hot = GumbelMaxSampler(range(draws), prompt_length=5, temperature=1e9, top_p=1.0, top_k=0)
    share = hot(torch.zeros((draws, 7), dtype=torch.long), logits.expand(draws, -1))[:, 1]
    assert abs(share.eq(0).float().mean().item() - 0.5) < 0.04


def reference_gumbel_max(seeds, step, logits, temperature, top_p, top_k):
    """The sampler as first written: a fresh generator and Gumbel draw per row, row by row."""
    tempered = truncate(logits.float() / temperature, top_k, top_p)
    rows = []
    for seed in seeds:
        digest = hashlib.blake2b(f"{seed}:{step}".encode(), digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "big") >> 1)
        uniform = torch.rand(logits.shape[-1], generator=generator)
        rows.append(-torch.log(-torch.log(uniform.clamp_min(torch.finfo(torch.float32).tiny))))
    return (tempered + torch.stack(rows)).argmax(dim=-1)


SEEDS = [0, 1, 7, 2**31 - 1, 2**32 + 5, 2**63 - 1, -1, -(10**30)]


@pytest.mark.parametrize(
    ("temperature", "top_p", "top_k"), [(1.0, 1.0, 0), (0.7, 0.9, 20), (1.3, 1.0, 5), (2.0, 0.5, 0)]
)
@pytest.mark.parametrize("vocab_size", [3, 99, 1000, 4099])
def test_gumbel_max_draws_are_those_of_a_generator_per_row(temperature, top_p, top_k, vocab_size):
    # The sampler batches its draws; every draw must stay the one of a fresh per-row generator,
    # or cached completions and committed snapshots would change.
    rng = torch.Generator().manual_seed(vocab_size)
    sampler = GumbelMaxSampler(
        SEEDS, prompt_length=4, temperature=temperature, top_p=top_p, top_k=top_k
    )
    for step in (0, 1, 2, 31):
        logits = 3 * torch.randn((len(SEEDS), vocab_size), generator=rng)
        scores = sampler(torch.zeros((len(SEEDS), 4 + step), dtype=torch.long), logits)
        expected = reference_gumbel_max(SEEDS, step, logits, temperature, top_p, top_k)
        assert torch.equal(scores.argmax(dim=-1), expected)
        assert bool(torch.isfinite(scores).sum(dim=-1).eq(1).all())


def reference_nucleus(logits, top_p):
    """Top-p by its definition: sort each row whole, mask tokens after mass ≥ top_p."""
    ordered, order = torch.sort(logits, dim=-1, descending=True)
    probabilities = ordered.softmax(dim=-1)
    beyond = probabilities.cumsum(dim=-1) - probabilities >= top_p
    return logits.masked_fill(beyond.scatter(-1, order, beyond), -torch.inf)


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.99])
def test_the_nucleus_ranks_few_tokens_and_equals_the_full_sort(top_p):
    # Peaked rows end their nucleus among the first ranked tokens; flat rows need thousands of
    # tokens and are sorted whole. Either way the kept set is the one a full sort keeps (float64
    # logits without ties: no rounding at the boundary to disagree on).
    rng = torch.Generator().manual_seed(11)
    scales = torch.tensor([0.05, 0.5, 3.0, 10.0, 30.0, 100.0]).repeat(2).reshape(2, 6, 1)
    logits = scales * torch.randn((2, 6, 5000), generator=rng, dtype=torch.float64)
    kept = torch.isfinite(truncate(logits, 0, top_p))
    assert torch.equal(kept, torch.isfinite(reference_nucleus(logits, top_p)))
    sizes = kept.sum(dim=-1).flatten().tolist()
    assert min(sizes) < 64 < max(sizes)  # both paths ran


def test_gumbel_max_draws_are_pinned():
    # The tokens a row draws are a pure function of (seed, step, logits, decoding): pinned here.
    logits = torch.linspace(-4.0, 4.0, 99).expand(len(SEEDS), -1)
    drawn = []
    for temperature, top_p, top_k in ((1.0, 1.0, 0), (0.7, 0.9, 20)):
        sampler = GumbelMaxSampler(SEEDS, 0, temperature=temperature, top_p=top_p, top_k=top_k)
        for step in (0, 5):
            scores = sampler(torch.zeros((len(SEEDS), step), dtype=torch.long), logits)
            drawn.append(scores.argmax(dim=-1).tolist())
    assert drawn == PINNED_DRAWS


PINNED_DRAWS = [  # computed with the first, row-by-row sampler
    [84, 94, 92, 74, 76, 96, 92, 97],
    [71, 78, 96, 92, 86, 93, 96, 61],
    [84, 94, 92, 87, 96, 96, 92, 97],
    [89, 92, 96, 92, 86, 93, 96, 91],
]


def test_identity_is_stable_and_tracks_settings(tiny_teacher_dir, tiny_student_dir, sampler):
    again = load_hf(tiny_teacher_dir, max_new_tokens=MAX_NEW_TOKENS, batch_size=3, name="x")
    assert again.identity == sampler.identity
    assert load_hf(tiny_teacher_dir, temperature=1, max_new_tokens=MAX_NEW_TOKENS).identity == (
        sampler.identity
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        sampler.decoding.temperature = 0.5
    changed = [
        {"temperature": 0.5},
        {"top_p": 0.9},
        {"top_k": 5},
        {"max_new_tokens": MAX_NEW_TOKENS + 1},
    ]
    identities = {
        load_hf(tiny_teacher_dir, **{"max_new_tokens": MAX_NEW_TOKENS, **c}).identity
        for c in changed
    }
    identities.add(load_hf(tiny_student_dir, max_new_tokens=MAX_NEW_TOKENS).identity)
    assert sampler.identity not in identities
    assert len(identities) == len(changed) + 1


def test_refuses_a_missing_directory(tmp_path):
    with pytest.raises(ModelSpecError, match=r"not found.*config\.json.*\.safetensors"):
        load_hf(tmp_path / "nope")


def test_refuses_pickle_only_checkpoints(tmp_path, tiny_teacher_dir):
    shutil.copy(tiny_teacher_dir / "config.json", tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelSpecError, match=r"arbitrary code.*safe_serialization=True"):
        load_hf(tmp_path)


def test_remote_code_needs_opt_in(tmp_path, tiny_teacher_dir):
    directory = shutil.copytree(tiny_teacher_dir, tmp_path / "custom")
    config = json.loads((directory / "config.json").read_text())
    config["model_type"] = "custom-tiny"
    config["auto_map"] = {"AutoConfig": "custom.Config", "AutoModelForCausalLM": "custom.Model"}
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSpecError, match="trust_remote_code=True"):
        load_hf(directory)


@pytest.mark.parametrize(
    "option",
    [{"temperature": -1}, {"top_p": 0}, {"top_k": -1}, {"max_new_tokens": 0}, {"batch_size": 0}],
)
def test_rejects_bad_options(tiny_teacher_dir, option):
    with pytest.raises(ModelSpecError, match=next(iter(option))):
        load_hf(tiny_teacher_dir, **option)


def test_mismatched_lengths_raise(greedy):
    with pytest.raises(ValueError, match="2 prompts but 1 seeds"):
        greedy.generate(["a", "b"], [0])


def test_score_prefers_the_teachers_own_output(sampler):
    prompts = PROMPTS[:8]
    own = sampler.generate(prompts, list(range(8)))
    rng = random.Random(0)
    noise = ["".join(rng.choice("xqzjv#%") for _ in range(len(text))) for text in own]
    own_scores = sampler.score(prompts, own)
    noise_scores = sampler.score(prompts, noise)
    assert all(math.isfinite(s) and s < 0 for s in own_scores + noise_scores)
    assert all(o > n for o, n in zip(own_scores, noise_scores, strict=True))


def test_score_is_the_probability_that_generate_returns_the_completion(tiny_soft_teacher_dir):
    # A lightly trained model has a spread-out distribution: compare the scored probability of
    # the most frequent completions with their frequency among 300 seeded samples.
    directory = tiny_soft_teacher_dir
    for options in ({"temperature": 1.0}, {"temperature": 0.7, "top_k": 5, "top_p": 0.9}):
        model = load_hf(directory, max_new_tokens=6, batch_size=64, **options)
        prompt = PROMPTS[0]
        samples = model.generate([prompt] * 300, list(range(300)))
        counts = {text: samples.count(text) for text in set(samples)}
        common = sorted(counts, key=lambda text: -counts[text])[:3]
        scores = model.score([prompt] * 3, common)
        for text, score in zip(common, scores, strict=True):
            share = counts[text] / 300
            assert math.exp(score) == pytest.approx(share, abs=3 * math.sqrt(share / 300) + 0.01)
    # The stop is scored: a complete answer is less likely than "some answer starting so".
    short = load_hf(directory, max_new_tokens=3)
    long = load_hf(directory, max_new_tokens=4)
    [truncated] = short.score([PROMPTS[0]], [" Pa"])
    [stopped] = long.score([PROMPTS[0]], [" Pa"])
    assert stopped < truncated


def test_greedy_score_is_a_point_mass(greedy):
    prompts = PROMPTS[:2]
    own = greedy.generate(prompts, [0, 0])
    assert greedy.score(prompts, own) == [0.0, 0.0]
    assert greedy.score(prompts, [own[0] + "!", ""]) == [-math.inf, -math.inf]


def test_token_log_probs_are_the_raw_distribution_whatever_the_decoding(tiny_soft_teacher_dir):
    prompts = PROMPTS[:6]
    plain = load_hf(tiny_soft_teacher_dir, max_new_tokens=6)
    completions = plain.generate(prompts, list(range(6)))
    rows = plain.token_log_probs(prompts, completions)
    # At temperature 1 without truncation, the tokens' log-probabilities (the stop included)
    # sum to the score: the same distribution, token by token.
    for row, score in zip(rows, plain.score(prompts, completions), strict=True):
        assert all(math.isfinite(value) and value <= 0 for value in row)
        assert sum(row) == pytest.approx(score, abs=1e-4)
    # Greedy and truncated decodings score a point mass or a masked distribution, but their
    # confidence is the same raw distribution's.
    for options in ({"temperature": 0}, {"temperature": 0.5, "top_k": 2}):
        other = load_hf(tiny_soft_teacher_dir, max_new_tokens=6, **options)
        other_rows = other.token_log_probs(prompts, completions)
        assert [len(row) for row in other_rows] == [len(row) for row in rows]
        flat = [value for row in other_rows for value in row]
        assert flat == pytest.approx([value for row in rows for value in row], abs=1e-5)
    # A completion cut at max_new_tokens has no stop token to score.
    short = load_hf(tiny_soft_teacher_dir, max_new_tokens=3)
    [three] = short.token_log_probs([PROMPTS[0]], [" Pa"])
    [four] = load_hf(tiny_soft_teacher_dir, max_new_tokens=4).token_log_probs([PROMPTS[0]], [" Pa"])
    assert len(four) == len(three) + 1


def _mean_and_error(values):
    mean = sum(values) / len(values)
    variance = sum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))


def test_expected_token_log_probs_center_the_models_own_samples(tiny_soft_teacher_dir):
    """Σ (log p − what the model expected) is a sum of martingale differences over the model's
    own samples: its mean is 0 (within 4 standard errors, on fixed seeds); a colder sampler's
    tokens are the likelier ones, so its mean is clearly above 0."""
    model = load_hf(tiny_soft_teacher_dir, max_new_tokens=8, temperature=0.8, batch_size=64)
    prompts = PROMPTS * 8
    seeds = list(range(len(prompts)))
    colder = model.with_decoding(temperature=0.4, name="colder")
    for sampler, low, high in ((model, -4, 4), (colder, 4, math.inf)):
        completions = sampler.generate(prompts, seeds)
        rows = model.token_log_probs(prompts, completions)
        means = model.expected_token_log_probs(prompts, completions)
        assert [len(row) for row in means] == [len(row) for row in rows]
        assert all(math.isfinite(value) and value <= 0 for row in means for value in row)
        mean, error = _mean_and_error([sum(r) - sum(e) for r, e in zip(rows, means, strict=True)])
        assert low * error < mean < high * error, (sampler.name, mean, error)


def test_greedy_and_truncated_expectations_follow_the_decoding(tiny_soft_teacher_dir):
    prompts = PROMPTS[:8]
    plain = load_hf(tiny_soft_teacher_dir, max_new_tokens=6)
    completions = plain.generate(prompts, list(range(8)))
    rows = plain.token_log_probs(prompts, completions)
    # Greedy decoding expects its most likely token: never less likely than the one written,
    # and exactly it along greedy's own completions.
    greedy = load_hf(tiny_soft_teacher_dir, max_new_tokens=6, temperature=0)
    expected = greedy.expected_token_log_probs(prompts, completions)
    for row, means in zip(rows, expected, strict=True):
        assert all(mean >= value - 1e-5 for value, mean in zip(row, means, strict=True))
    own = greedy.generate(prompts, [0] * 8)
    on_path = [v for row in greedy.expected_token_log_probs(prompts, own) for v in row]
    written = [v for row in greedy.token_log_probs(prompts, own) for v in row]
    assert on_path == pytest.approx(written, abs=1e-5)
    # Keeping only the top token (top_k=1) is greedy at any temperature; a wider nucleus expects
    # less (it spreads over tokens the raw distribution finds less likely).
    top_one = load_hf(tiny_soft_teacher_dir, max_new_tokens=6, temperature=0.7, top_k=1)
    flat = [v for row in top_one.expected_token_log_probs(prompts, completions) for v in row]
    assert flat == pytest.approx([v for row in expected for v in row], abs=1e-5)
    wide = [v for row in plain.expected_token_log_probs(prompts, completions) for v in row]
    assert all(w <= g + 1e-5 for w, g in zip(wide, flat, strict=True))


@pytest.mark.parametrize("method", ["token_log_probs", "expected_token_log_probs"])
def test_the_cache_keeps_token_level_answers(tiny_soft_teacher_dir, tmp_path, method):
    from pytest_bbi.generation.cache import GenerationCache
    from pytest_bbi.generation.cached_model import CachedModel
    from pytest_bbi.models import ExpectationScorer, TokenScorer

    model = load_hf(tiny_soft_teacher_dir, max_new_tokens=6)
    calls = []
    original = getattr(model, method)

    def counting(prompts, completions):
        calls.append(len(prompts))
        return original(prompts, completions)

    setattr(model, method, counting)
    prompts, completions = PROMPTS[:4], ["ab", "", " Pa", "zz"]
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(model, cache)
        assert isinstance(cached, TokenScorer if method == "token_log_probs" else ExpectationScorer)
        ask = getattr(cached, method)
        first = ask(prompts + prompts[:1], completions + completions[:1])
        assert calls == [4]  # a pair asked twice is computed once
        assert first[-1] == first[0]
        first = first[:-1]
        again = ask(prompts[::-1], completions[::-1])
        assert calls == [4]
        assert again == first[::-1]
        assert first == original(prompts, completions)
        assert len(cache) == 4  # stored beside the completions, under a derived identity
        other = "expected_token_log_probs" if method == "token_log_probs" else "token_log_probs"
        other_rows = getattr(cached, other)(prompts, completions)
        assert other_rows != first  # the other kind is computed apart, never read as this one
        assert other_rows == getattr(model, other)(prompts, completions)
        assert len(cache) == 8
        assert cached.generate(prompts[:1], [0]) == model.generate(prompts[:1], [0])


def test_tiny_model_builds_once_and_checks_its_arguments(tmp_path, tiny_teacher_dir):
    start = time.perf_counter()
    assert build_tiny_model(tiny_teacher_dir) == tiny_teacher_dir
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match="built with"):
        build_tiny_model(tiny_teacher_dir, variant="student")
    with pytest.raises(ValueError, match=str(VARIANTS).replace("(", r"\(").replace(")", r"\)")):
        build_tiny_model(tmp_path / "x", variant="distilled")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("mine")
    with pytest.raises(ValueError, match="not a tiny model"):
        build_tiny_model(tmp_path / "busy")


def test_tiny_model_build_is_safe_when_racing(tmp_path):
    target = tmp_path / "raced"
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(build_tiny_model(target, train_steps=1)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [target] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raced", "raced.lock"]
    assert load_hf(target, max_new_tokens=2).generate(["Q:"], [0])[0] is not None
