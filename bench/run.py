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
* ``limit`` and ``encoder``: issue 16's long runs, ``bench/limit.py`` (queries for power 0.8
  near the limit, SmolLM2 against its distortions) and ``bench/encoder.py --side-by-side`` (the
  default class against one PyTorch MiniLM pass), never rerun here: read back from
  ``bench/LIMIT_RESULTS.md`` and ``bench/encoder_side_by_side.json``.
* ``example-suite``: ``pytest example_suite`` serial vs ``-n 2``, warm (generation cache
  filled) and cold (students built, empty generation cache), side by side, each run counting
  the models it loaded and the features it computed; with ``--fresh`` also the README main job
  on an empty model cache.

Every section's rows are stored in ``bench/results.json``, so a run with ``--only`` keeps the
other sections' rows, marked with their date and "not rerun". The targets table is computed
from the rows and the sub-result files, never typed in.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sections.common import (
    COLD_WARM_TARGET,
    GENERATION_RATIO_TARGET,
    SECTIONS,
    Row,
    Section,
    Settings,
    Target,
    load_average,
    machine,
    minutes,
    relative,
)
from sections.early_stopping import section_early_stopping
from sections.example_suite import section_example_suite
from sections.generation import section_generation
from sections.imports import section_collection, section_imports
from sections.limit import section_from_file
from sections.scripts import (
    committed,
    section_acquisition,
    section_mmd,
    section_white_box,
    sub_result_section,
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
    "limit": [
        (
            "near the limit (SmolLM2's distortions): the default class needs ≤ ½ the MMD test's "
            "queries and ≤ 2× the likelihood-ratio oracle's; temperature 0.8 caught within 1000",
            "16",
        )
    ],
    "encoder": [
        ("default-class compute, cold, ≤ 0.6× one PyTorch MiniLM pass at q = 1000 and 5000", "16")
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
    "limit": lambda settings: section_from_file("limit"),
    "encoder": lambda settings: section_from_file("encoder"),
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
            elif name in ("limit", "encoder"):
                sections.append(section_from_file(name))
            elif name in stored:  # a copy: bench/results.json keeps where the rows came from
                section = Section.from_dict(asdict(stored[name]))
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
