"""Section ``example-suite``: the example suite serial vs ``-n 2``, warm and cold."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sections.common import (
    EXAMPLE_SUITE,
    HERE,
    MAIN_JOB,
    MAIN_JOB_FRESH_TARGET_S,
    MAIN_JOB_WARM_TARGET_S,
    QUICK_SELECTION,
    ROOT,
    STUDENTS,
    Row,
    Section,
    Settings,
    Target,
    child_env,
    load_average,
    minutes,
    relative,
    status,
)

# ---------------------------------------------------------------------------------------------
# example suite
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PytestRun:
    """One timed pytest run: wall time, exit status, its summary line and what it loaded.

    ``loads`` and ``computed`` sum every process of the run (controller and xdist workers), as
    ``bench/sections/feature_counts.py`` wrote them: the models and encoders loaded, and per
    feature kind (embedding, score, token log-probabilities...) how many were computed rather
    than read from the cache; ``read`` counts the ones read.
    """

    seconds: float
    returncode: int
    summary: str
    load: str
    loads: list[str] = field(default_factory=list)
    computed: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        failed = "" if self.returncode == 0 else f", exit status {self.returncode}"
        return f"{self.summary}{failed}"

    def counted(self) -> str:
        """What the run loaded and computed, e.g. ``loaded 0; computed 0; read embedding 96``."""
        loaded = f"loaded {len(self.loads)}" + (f" ({', '.join(self.loads)})" if self.loads else "")
        computed = sum(self.computed.values())
        parts = [f"{kind} {count}" for kind, count in self.computed.items() if count]
        read = [f"{kind} {count}" for kind, count in self.read.items() if count]
        return (
            f"{loaded}; computed {computed}"
            + (f" ({', '.join(parts)})" if parts else "")
            + (f"; read {', '.join(read)}" if read else "")
        )


def timed_pytest(arguments: Sequence[str], cwd: Path, log: Path, **env: str) -> PytestRun:
    """Run ``python -m pytest ARGUMENTS`` in ``cwd``, output to ``log``; its wall time.

    Every process of the run counts what it loads and computes (``-p feature_counts``).
    """
    counts = Path(tempfile.mkdtemp(prefix="bbi-bench-counts-"))
    command = [sys.executable, "-m", "pytest", "-p", "feature_counts", *arguments]
    path = os.pathsep.join(str(folder) for folder in (ROOT, HERE / "sections"))
    load = load_average()
    print(f"  $ {' '.join(command[1:])}  (in {cwd}; load average {load})", flush=True)
    with log.open("w", encoding="utf-8") as output:
        started = time.perf_counter()
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=child_env(PYTHONPATH=path, BBI_BENCH_COUNTS=str(counts), **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        seconds = time.perf_counter() - started
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = next(
        (line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)),
        lines[-1] if lines else "(no output)",
    )
    loads: list[str] = []
    computed: dict[str, int] = {}
    read: dict[str, int] = {}
    for process in sorted(counts.glob("*.json")):
        written = json.loads(process.read_text(encoding="utf-8"))
        loads += written["loads"]
        for kind, numbers in written["tally"].items():
            computed[kind] = computed.get(kind, 0) + numbers["computed"]
            read[kind] = read.get(kind, 0) + numbers["read"]
    shutil.rmtree(counts, ignore_errors=True)
    first_minute = load.split(",")[0]
    run = PytestRun(seconds, completed.returncode, summary, first_minute, loads, computed, read)
    outcome = f"{summary} (exit {completed.returncode}); {run.counted()}"
    print(f"    {seconds:.1f} s: {outcome}", flush=True)
    return run


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
        Row(
            "warm, serial",
            minutes(warm_serial.seconds),
            f"{warm_serial.describe()}; {warm_serial.counted()}",
        ),
        Row(
            "warm, -n 2",
            minutes(warm_n2.seconds),
            f"serial/-n 2 = {warm_serial.seconds / warm_n2.seconds:.2f}; {warm_n2.describe()}; "
            f"{warm_n2.counted()}",
        ),
        Row(
            "cold generation cache, serial",
            minutes(cold["serial"].seconds),
            f"{cold['serial'].describe()}; {cold['serial'].counted()}",
        ),
        Row(
            "cold generation cache, -n 2",
            minutes(cold["-n 2"].seconds),
            f"serial/-n 2 = {cold['serial'].seconds / cold['-n 2'].seconds:.2f}; "
            f"{cold['-n 2'].describe()}; {cold['-n 2'].counted()}",
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
        + " Every run loads `bench/sections/feature_counts.py` (`-p feature_counts`): each of "
        "its processes (controller and xdist workers) writes the models and encoders it loaded "
        "and, per feature kind (embedding, score, token log-probabilities), how many it "
        "computed and how many it read from the cache; the rows give their sums."
        + (" Quick run: one test of one bucket." if settings.quick else "")
    )
    warm_runs = (warm_serial, warm_n2)
    nothing_done = all(not run.loads and not any(run.computed.values()) for run in warm_runs)
    section.targets += [
        Target(
            "warm rerun of the example suite: loads no model, computes no embedding or score, "
            "≤ 1/60 of the cold run (serial)",
            "16",
            f"warm {warm_serial.seconds:.0f} s vs cold {cold['serial'].seconds:.0f} s "
            f"(1/{cold['serial'].seconds / warm_serial.seconds:.0f}); `-n 2`: "
            f"{warm_n2.seconds:.0f} s vs {cold['-n 2'].seconds:.0f} s "
            f"(1/{cold['-n 2'].seconds / warm_n2.seconds:.0f}); warm serial: "
            f"{warm_serial.counted()}; warm `-n 2`: {warm_n2.counted()}",
            status(
                nothing_done
                and warm_serial.seconds * 60 <= cold["serial"].seconds
                and all(run.returncode == 0 for run in (*warm_runs, *cold.values()))
            ),
        ),
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
