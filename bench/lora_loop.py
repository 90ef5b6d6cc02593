"""Close the training loop on SmolLM2 (issue 17, item 3): test, export, LoRA-distill, test again.

    flock /tmp/bbi-heavy.lock .venv/bin/python bench/lora_loop.py

Per seed: the BEFORE game (the example suite's game: SmolLM2-135M-Instruct against the pruned
student, its three buckets of prompts, 48 queries and 60 s per bucket, ε = 0.1) is played
through ``pytest_bbi.assert_indistinguishable`` and exported with ``export_verdict``. Two LoRA
students are then distilled from the pruned one by supervised fine-tuning on the teacher's
answers (``bench/lora_sft.py``, the recipe docs/how-to/close-the-loop.md shows):

- targeted: the prompts ``pytest_bbi.export.training_prompts`` reads from the export's target
  list (buckets weighted by the adversary class's mean advantage, each cycling its weakest
  prompts, ranked by that mean on each prompt);
- random: as many prompts, a stratified random sample (equal shares per bucket, prompts drawn
  uniformly from the bucket's list);

with the same recipe and steps. The AFTER games play the pruned, targeted and random students
on a fresh run seed (their teacher samples are never the training answers, which come from
seeds of their own). Writes bench/LORA_LOOP.md and bench/lora_loop.json. Completions go
through the generation cache (.bbi_cache) and the trained students are kept under their recipe,
so a rerun only recomputes what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "example_suite"), str(ROOT / "bench")]

import students  # noqa: E402  (the example suite's models)
import torch  # noqa: E402
from lora_sft import LoraRecipe, lora_distill  # noqa: E402
from prompts import PROMPTS  # noqa: E402

import pytest_bbi as bbi  # noqa: E402
from pytest_bbi.errors import ExportError  # noqa: E402
from pytest_bbi.export import export_verdict, training_prompts  # noqa: E402

OUT = ROOT / "bench"
EXPORTS = ROOT / ".bbi_cache" / "lora-loop"
ARMS = ("targeted", "random")
STUDENTS = ("pruned", *ARMS)


@dataclass(frozen=True)
class Loop:
    """The loop's sizes; all fixed before the first measurement.

    Attributes:
        seeds: one loop per seed (BEFORE game, training data, LoRA initialization).
        queries_per_bucket: q per bucket (the example suite plays 48; 32 keeps the run near
            40 min on two shared cores).
        seconds_per_bucket: the adversaries' time per bucket, as in the example suite.
        epsilon: ε, as in the example suite.
        examples: training examples per LoRA student (teacher answers); the recipe's 16 steps
            of 8 go over them twice.
        weakest: how many of each bucket's weakest prompts the targeted set cycles (half of 12).
        after_offset: the AFTER games' run seed is the loop's seed plus this.
        lora: the adapter's recipe (its seed is replaced by the loop's).
    """

    seeds: tuple[int, ...] = (1, 2, 3)
    queries_per_bucket: int = 32
    seconds_per_bucket: float = 60.0
    epsilon: float = 0.1
    examples: int = 64
    weakest: int = 6
    after_offset: int = 1000
    lora: LoraRecipe = field(default_factory=lambda: LoraRecipe(steps=16))


def _seed(*parts: object) -> int:
    """A 63-bit seed for a training answer, derived apart from the game's own seeds."""
    digest = hashlib.blake2b(digest_size=8, person=b"bbi-lora-loop")
    for part in parts:
        encoded = str(part).encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return int.from_bytes(digest.digest(), "big") >> 1


def _play(teacher: bbi.Model, student: bbi.Model, loop: Loop, seed: int) -> bbi.Verdict:
    """The example suite's game over all three buckets at once, whatever its decision."""
    buckets = len(PROMPTS)
    budget = bbi.Budget(
        queries=loop.queries_per_bucket * buckets, seconds=loop.seconds_per_bucket * buckets
    )
    try:
        return bbi.assert_indistinguishable(
            teacher, student, PROMPTS, budget=budget, epsilon=loop.epsilon, seed=seed
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict


def _per_bucket(verdict: bbi.Verdict) -> dict[str, Any]:
    """Each bucket's decision, strongest advantage, and every adversary's advantage."""
    rows = {}
    for bucket, result in verdict.buckets.items():
        adversaries = {
            name: adversary.advantage
            for name, adversary in result.adversaries.items()
            if adversary.total > 0
        }
        rows[bucket] = {
            "passed": result.passed,
            "advantage": result.advantage,
            "lower": result.lower,
            "adversaries": adversaries,
            "mean": sum(adversaries.values()) / len(adversaries),
        }
    return {"decision": verdict.decision, "buckets": rows}


def _targeted(export: Path, loop: Loop) -> list[bbi.prompts.Prompt]:
    """The exported targets; every bucket's when the BEFORE game failed none (weak signal)."""
    try:
        return training_prompts(export, loop.examples, weakest=loop.weakest)
    except ExportError:
        return training_prompts(export, loop.examples, weakest=loop.weakest, include_passed=True)


def _stratified(count: int, seed: int) -> list[bbi.prompts.Prompt]:
    """``count`` prompts, equal shares per bucket, each drawn uniformly from the bucket's list."""
    rng = random.Random(f"lora-loop-random:{seed}")
    names = sorted(PROMPTS)
    shares = [count // len(names) + (index < count % len(names)) for index in range(len(names))]
    return [
        bbi.prompts.Prompt(rng.choice(PROMPTS[name]), name)
        for name, share in zip(names, shares, strict=True)
        for _ in range(share)
    ]


def _answers(teacher: bbi.Model, prompts: list[bbi.prompts.Prompt], seed: int) -> list[str]:
    """The teacher's answers; the k-th occurrence of a prompt gets the same seed in both arms."""
    seen: Counter[str] = Counter()
    seeds = []
    for prompt in prompts:
        seeds.append(_seed(seed, "train", prompt.text, seen[prompt.text]))
        seen[prompt.text] += 1
    return teacher.generate([prompt.text for prompt in prompts], seeds)


def _student(
    arm: str,
    seed: int,
    pruned: Path,
    prompts: list[bbi.prompts.Prompt],
    answers: list[str],
    recipe: LoraRecipe,
) -> tuple[Path, float]:
    """The arm's LoRA student, trained now unless a run with the same recipe kept it."""
    data = hashlib.sha256(json.dumps([[p.text for p in prompts], answers]).encode()).hexdigest()
    spec = {
        "pruned": pruned.name,
        "data": data,
        "lora": asdict(recipe),
        "decoding": students.DECODING,
    }
    started = time.monotonic()

    def build(target: Path) -> None:
        lora_distill(
            pruned,
            [p.text for p in prompts],
            answers,
            target,
            chat=bool(students.DECODING.get("chat", True)),
            max_new_tokens=int(students.DECODING["max_new_tokens"]),
            recipe=recipe,
        )

    folder = students.built(f"lora-{arm}-s{seed}", spec, build)
    return folder, time.monotonic() - started


def run(loop: Loop, partial: Path, context: dict[str, Any]) -> dict[str, Any]:
    """Play the loop for every seed; return the raw numbers (written to ``partial`` per seed)."""
    teacher_folder = students.teacher_folder()
    pruned_folder = students.pruned_student(teacher_folder)
    teacher = bbi.cached(students.lazy_hf(teacher_folder, "teacher"), ROOT / ".bbi_cache")
    pruned = bbi.cached(students.lazy_hf(pruned_folder, "pruned"), ROOT / ".bbi_cache")
    results: dict[str, Any] = {**context, "seeds": {}}
    overall = time.monotonic()
    for seed in loop.seeds:
        timings: dict[str, float] = {}
        started = time.monotonic()
        before = _play(teacher, pruned, loop, seed)
        timings["before game"] = time.monotonic() - started
        export = EXPORTS / f"seed-{seed}"
        export_verdict(before, export)
        sets = {
            "targeted": _targeted(export, loop),
            "random": _stratified(loop.examples, seed),
        }
        models: dict[str, bbi.Model] = {"pruned": pruned}
        for arm, prompts in sets.items():
            started = time.monotonic()
            answers = _answers(teacher, prompts, seed)
            timings[f"{arm} answers"] = time.monotonic() - started
            recipe = LoraRecipe(**{**asdict(loop.lora), "seed": seed})
            folder, timings[f"{arm} training"] = _student(
                arm, seed, pruned_folder, prompts, answers, recipe
            )
            models[arm] = bbi.cached(students.lazy_hf(folder, arm), ROOT / ".bbi_cache")
        after = {}
        for name, model in models.items():
            started = time.monotonic()
            after[name] = _per_bucket(_play(teacher, model, loop, seed + loop.after_offset))
            timings[f"after game {name}"] = time.monotonic() - started
        results["seeds"][str(seed)] = {
            "before": _per_bucket(before),
            "after": after,
            "training_sets": {
                arm: dict(sorted(Counter(p.bucket for p in prompts).items()))
                for arm, prompts in sets.items()
            },
            "distinct_prompts": {arm: len({p.text for p in ps}) for arm, ps in sets.items()},
            "seconds": {name: round(value, 1) for name, value in timings.items()},
        }
        print(f"seed {seed}: {json.dumps(results['seeds'][str(seed)]['seconds'])}", flush=True)
        results["seconds"] = round(time.monotonic() - overall, 1)
        partial.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def _mean_se(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{mean:+.2f}"
    variance = sum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return f"{mean:+.2f} ± {math.sqrt(variance / len(values)):.2f}"


def _column(results: dict[str, Any], column: str, bucket: str, read: Any) -> list[float]:
    values = []
    for numbers in results["seeds"].values():
        game = numbers["before"] if column == "before" else numbers["after"][column]
        values.append(read(game["buckets"][bucket]))
    return values


def _table(results: dict[str, Any], read: Any) -> list[str]:
    columns = ("before", "pruned", *ARMS)
    lines = [
        "| bucket | before (BEFORE game) | pruned (AFTER seed) | targeted | random |",
        "| --- | --- | --- | --- | --- |",
    ]
    for bucket in PROMPTS:
        cells = [_mean_se(_column(results, column, bucket, read)) for column in columns]
        lines.append(f"| {bucket} | " + " | ".join(cells) + " |")
    return lines


def _differences(results: dict[str, Any], read: Any) -> list[str]:
    """Paired differences per bucket over seeds (both sides played on the same AFTER seed)."""
    pairs = (("targeted", "random"), ("targeted", "pruned"), ("random", "pruned"))
    lines = [
        "| bucket | " + " | ".join(f"{a} − {b}" for a, b in pairs) + " |",
        "| --- |" + " --- |" * len(pairs),
    ]
    for bucket in PROMPTS:
        cells = []
        for first, second in pairs:
            a = _column(results, first, bucket, read)
            b = _column(results, second, bucket, read)
            cells.append(_mean_se([x - y for x, y in zip(a, b, strict=True)]))
        lines.append(f"| {bucket} | " + " | ".join(cells) + " |")
    return lines


def report(loop: Loop, results: dict[str, Any], command: str, seconds: float) -> str:
    """LORA_LOOP.md: the tables (mean ± standard error over seeds) and how they were made."""
    first = next(iter(results["seeds"].values()))
    adversaries = sorted(first["before"]["buckets"][next(iter(PROMPTS))]["adversaries"])
    lines = [
        "# The training loop on SmolLM2: targeted vs random LoRA distillation",
        "",
        f"Command: `{command}` (from the repository root). Machine: {results['machine']}. "
        f"Run time: {seconds / 60:.1f} min for {len(loop.seeds)} seeds"
        + (" (part of it served from the generation cache)" if results.get("cached") else "")
        + ".",
        "",
        f"Loop: {json.dumps(asdict(loop))}; decoding `{json.dumps(results['decoding'])}`.",
        "",
        "How: per seed, the BEFORE game (teacher vs the pruned student, the example suite's "
        "prompts of example_suite/prompts.py per bucket, its ε and adversary class: stylometric, "
        "embedding, kernel and, as both models score tokens, likelihood) is played with "
        "`pytest_bbi.assert_indistinguishable` and exported with `export_verdict`. Targeted: "
        f"{loop.examples} prompts from `pytest_bbi.export.training_prompts` on that export "
        "(failing buckets weighted by the adversary class's mean advantage, each cycling its "
        f"{loop.weakest} weakest prompts, ranked by that mean on each prompt). Random: "
        f"{loop.examples} prompts, equal shares per bucket, drawn uniformly "
        "from the bucket's list. Both: the teacher's answers (seeds of their own), supervised "
        "LoRA fine-tuning of the pruned student on them (bench/lora_sft.py; SFT on the chosen "
        "side, no DPO), the same recipe and steps. AFTER: the pruned, targeted and random "
        f"students against the teacher on run seed = seed + {loop.after_offset} (fresh samples; "
        "never the training answers).",
        "",
        "Each cell: the advantage over the seeds, mean ± standard error "
        f"({len(loop.seeds)} seeds; each seed's game has "
        f"{loop.queries_per_bucket} queries per bucket, half of them held out).",
        "",
        "## The verdict's advantage (the strongest adversary's) per bucket",
        "",
        *_table(results, lambda bucket: bucket["advantage"]),
        "",
        "## The mean advantage over the adversary class per bucket",
        "",
        *_table(results, lambda bucket: bucket["mean"]),
        "",
        "Paired differences of that mean on the AFTER seeds (negative: the first student is "
        "harder to tell from the teacher):",
        "",
        *_differences(results, lambda bucket: bucket["mean"]),
        "",
        "## Per adversary",
        "",
    ]
    for adversary in adversaries:
        lines += [
            f"### {adversary}",
            "",
            *_table(results, lambda bucket, name=adversary: bucket["adversaries"].get(name, 0.0)),
            "",
        ]
    lines += ["## Per seed", ""]
    for seed, numbers in results["seeds"].items():
        decisions = ", ".join(
            f"{name} {game['decision']}" for name, game in numbers["after"].items()
        )
        lines += [
            f"- seed {seed}: BEFORE {numbers['before']['decision']}; AFTER {decisions}; "
            f"training prompts per bucket {json.dumps(numbers['training_sets'])}, "
            f"distinct {json.dumps(numbers['distinct_prompts'])}; "
            f"seconds {json.dumps(numbers['seconds'])}",
        ]
    return "\n".join(lines) + "\n"


def _context(loop: Loop, command: str, arguments: argparse.Namespace) -> dict[str, Any]:
    """What the report says about the run besides its numbers."""
    return {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
            f"{arguments.threads} torch thread(s), Python {platform.python_version()}, "
            f"torch {torch.__version__}"
        ),
        "loop": asdict(loop),
        "decoding": students.DECODING,
        "command": command.strip(),
        "seconds": 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(Loop().seeds))
    parser.add_argument("--queries-per-bucket", type=int, default=Loop().queries_per_bucket)
    parser.add_argument("--examples", type=int, default=Loop().examples)
    parser.add_argument("--steps", type=int, default=Loop().lora.steps)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on the shared 2-core box, 32 SmolLM2 completions took "
        "14 s on one thread and 41 s on two)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the report and JSON go")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="write the report from the raw numbers of an earlier run (lora_loop.json, or the "
        "lora_loop.partial.json a run writes after each seed) instead of running",
    )
    arguments = parser.parse_args()
    if arguments.from_json:
        saved = json.loads(arguments.from_json.read_text())
        loop = Loop(**{**saved["loop"], "seeds": tuple(int(seed) for seed in saved["seeds"])})
        loop = replace(loop, lora=LoraRecipe(**{**saved["loop"]["lora"]}))
        text = report(loop, saved, saved["command"], saved["seconds"])
        (arguments.out / "LORA_LOOP.md").write_text(text)
        print(text)
        return
    torch.set_num_threads(arguments.threads)
    loop = Loop(
        seeds=tuple(arguments.seeds),
        queries_per_bucket=arguments.queries_per_bucket,
        examples=arguments.examples,
        lora=LoraRecipe(steps=arguments.steps),
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    arguments.out.mkdir(parents=True, exist_ok=True)
    command = "flock /tmp/bbi-heavy.lock .venv/bin/python bench/lora_loop.py " + " ".join(
        sys.argv[1:]
    )
    results = run(
        loop, arguments.out / "lora_loop.partial.json", _context(loop, command, arguments)
    )
    seconds = time.monotonic() - started
    results["seconds"] = round(seconds, 1)
    (arguments.out / "lora_loop.partial.json").unlink()
    (arguments.out / "lora_loop.json").write_text(
        json.dumps(results, indent=2, sort_keys=True) + "\n"
    )
    (arguments.out / "LORA_LOOP.md").write_text(report(loop, results, results["command"], seconds))
    print((arguments.out / "LORA_LOOP.md").read_text())


if __name__ == "__main__":
    main()
