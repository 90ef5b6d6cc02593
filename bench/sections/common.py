"""What every benchmark section shares: settings, result rows, the machine and timing helpers."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
ROOT = HERE.parent
SECTIONS = (
    "imports",
    "collection",
    "generation",
    "early-stopping",
    "acquisition",
    "white-box",
    "mmd",
    "limit",
    "encoder",
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
