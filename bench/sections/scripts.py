"""Sections ``acquisition``, ``white-box`` and ``mmd``: the other scripts, run and read back."""

from __future__ import annotations

import datetime
import importlib.util
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sections.common import (
    MMD_RATIO_TARGET,
    ROOT,
    Row,
    Section,
    Settings,
    Target,
    child_env,
    relative,
    status,
)

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
    return read_back(name, path, reader, SUB_RESULT_NOTES[name], rerun)


def read_back(
    name: str,
    path: Path,
    reader: Callable[[Path], tuple[list[Row], list[Target]]],
    note: str,
    rerun: bool,
) -> Section:
    """Section ``name`` from the results file ``path``: its rows and targets by ``reader``,
    ``note`` (with ``{file}``) saying where the numbers come from, and when they were made."""
    section = Section(name)
    if not path.is_file():
        section.source = f"{relative(path)} is missing: not measured"
        return section
    section.rows, section.targets = reader(path)
    section.notes.append(note.format(file=relative(path)))
    if rerun:
        section.source = f"{relative(path)}, regenerated in this run"
    else:
        section.source = f"{relative(path)} ({file_date(path)}), not rerun"
    return section
