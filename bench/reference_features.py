"""Which of the reference adversary's features carry its power: the learner on feature subsets.

Run it after ``bench/limit.py`` has made its pools: it reads them, and the teacher's token
log-probabilities and expectations of every pooled completion, from ``.bbi_cache/bench-limit``
(a missing one is computed there, loading the teacher)::

    flock /tmp/bbi-heavy.lock .venv/bin/python bench/reference_features.py \\
        --only "int8,drop3,temperature,system prompt"

For each distortion, each n of the grid and each of R replications: n of the pool's 1,080
(teacher, student) pairs — the k-th completion of each model for the same prompt — are drawn
without replacement; the first half train, the other half are held-out trials shown in a
seeded random order. The package's own pairwise learner
(:func:`pytest_bbi.adversaries.pairwise.decide_pairwise`, with the reference adversary's ``c``
and work cap) is fitted on each subset of :func:`pytest_bbi.adversaries.reference.token_features`'
columns below, and its held-out accuracy is recorded. The A/A world (the teacher against its
second pool) is the control: every subset should stay at 0.5 there. The draws differ from
``bench/limit.py``'s (which cycles through the prompts): read accuracies, not power.

Writes ``bench/REFERENCE_FEATURES.md`` and ``bench/reference_features.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import limit  # noqa: E402  (bench/limit.py: its models, pools and cache)

from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial  # noqa: E402
from pytest_bbi.adversaries.pairwise import decide_pairwise  # noqa: E402
from pytest_bbi.adversaries.reference import (  # noqa: E402
    CENTERED_SUM,
    ReferenceAdversary,
    token_features,
)
from pytest_bbi.generation.cache import GenerationCache  # noqa: E402
from pytest_bbi.generation.cached_model import behind_cache  # noqa: E402

SUBSETS: dict[str, list[int]] = {
    "all 13 (the reference before 533cdd5)": list(range(13)),
    "the 10 without expectations": list(range(10)),
    "the 3 centered": list(range(CENTERED_SUM, 13)),
    "the centered sum alone (today's reference)": [CENTERED_SUM],
}
"""Column subsets of ``token_features(rows, expected)`` (see its docstring for the order)."""


def features(teacher: object, pools: limit.Pools) -> np.ndarray:
    """The 13 reference features of every pooled completion, in pool order (prompt, k)."""
    prompts = [prompt for prompt, texts in pools.items() for _ in texts]
    completions = [text for texts in pools.values() for text in texts]
    rows = teacher.token_log_probs(prompts, completions)  # type: ignore[attr-defined]
    expected = teacher.expected_token_log_probs(prompts, completions)  # type: ignore[attr-defined]
    return token_features(rows, expected)


def accuracy(
    teacher: np.ndarray, student: np.ndarray, columns: list[int], n: int, replication: int
) -> float:
    """Held-out accuracy of the pairwise learner on ``columns``, one replication at n pairs."""
    rng = random.Random(f"reference-features-{n}-{replication}")
    chosen = rng.sample(range(len(teacher)), n)
    half = n // 2
    train = [LabeledPair("", f"t{i}", f"s{i}") for i in chosen[:half]]
    trials, truth = [], []
    for i in chosen[half:]:
        first_is_teacher = rng.random() < 0.5
        first, second = (f"t{i}", f"s{i}") if first_is_teacher else (f"s{i}", f"t{i}")
        trials.append(Trial("", first, second))
        truth.append(first_is_teacher)

    def featurize(keys: list[str], deadline: Deadline) -> tuple[np.ndarray, None]:
        side = {"t": teacher, "s": student}
        return np.array([side[key[0]][int(key[1:]), columns] for key in keys]), None

    reference = ReferenceAdversary()
    calls = decide_pairwise(
        train, trials, Deadline(None), featurize, c=reference.c, max_iter=reference.max_iter
    )
    return sum((p > 0.5) == first for p, first in zip(calls, truth, strict=True)) / len(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="int8,drop3,temperature,system prompt")
    parser.add_argument("--grid", default="40,100,300")
    parser.add_argument("--replications", type=int, default=100)
    args = parser.parse_args()
    grid = [int(n) for n in args.grid.split(",")]
    started = time.perf_counter()
    prompts, loaders = limit.smol_models()
    store = GenerationCache(limit.CACHE / "cache")
    teacher = behind_cache(loaders["teacher"](), store)
    per_prompt = 30  # the pools bench/limit.py made (36 prompts x 30)
    teacher_pool, _ = limit.pool(teacher, "teacher", prompts, per_prompt)
    copy_pool, _ = limit.pool(teacher, "student", prompts, per_prompt)
    base = features(teacher, teacher_pool)
    worlds = {"A/A (teacher vs teacher)": features(teacher, copy_pool)}
    for name in args.only.split(","):
        student = behind_cache(loaders[name](), store)
        student_pool, _ = limit.pool(student, "student", prompts, per_prompt)
        worlds[f"teacher vs {name}"] = features(teacher, student_pool)
    results = []
    for world, student in worlds.items():
        for n in grid:
            for subset, columns in SUBSETS.items():
                accuracies = [
                    accuracy(base, student, columns, n, r) for r in range(args.replications)
                ]
                mean = statistics.fmean(accuracies)
                error = statistics.stdev(accuracies) / len(accuracies) ** 0.5
                results.append(
                    {"world": world, "n": n, "subset": subset, "accuracy": mean, "se": error}
                )
                print(f"{world} | n={n} | {subset}: {mean:.3f} ± {error:.3f}", flush=True)
    seconds = time.perf_counter() - started
    command = " ".join(["bench/reference_features.py", *sys.argv[1:]])
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    (HERE / "reference_features.json").write_text(
        json.dumps(
            {"command": command, "machine": machine, "seconds": seconds, "results": results},
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    write_markdown(results, command, machine, seconds, args.replications, grid)


def write_markdown(
    results: list[dict[str, object]],
    command: str,
    machine: str,
    seconds: float,
    replications: int,
    grid: list[int],
) -> None:
    """The table: one row per world and subset, the held-out accuracy ± SE at each n."""
    lines = [
        limit.GENERATED_BEGIN,
        "# The reference adversary's features: held-out accuracy of the learner on subsets",
        "",
        f"Generated by `{command}` on {machine} in {seconds:.0f} s: SmolLM2-135M-Instruct's "
        "`bench/limit.py` pools (36 prompts × 30 completions per model), the teacher's token "
        f"log-probabilities and expectations; R = {replications} replications per point, half "
        "of n pairs train, half are held out; accuracy ± its standard error over the "
        "replications (they share one pool, so the ± understates the error).",
        "",
        "| pair | features | " + " | ".join(f"n = {n}" for n in grid) + " |",
        "|---|---|" + "---|" * len(grid),
    ]
    worlds = list(dict.fromkeys(str(row["world"]) for row in results))
    for world in worlds:
        for subset in SUBSETS:
            cells = []
            for n in grid:
                row = next(
                    r
                    for r in results
                    if r["world"] == world and r["subset"] == subset and r["n"] == n
                )
                cells.append(f"{row['accuracy']:.3f} ± {row['se']:.3f}")
            lines.append(f"| {world} | {subset} | " + " | ".join(cells) + " |")
    lines.append(limit.GENERATED_END)
    limit.write_generated(HERE / "REFERENCE_FEATURES.md", lines)  # keeps the reading
    print(f"wrote {HERE / 'REFERENCE_FEATURES.md'}", flush=True)


if __name__ == "__main__":
    main()
