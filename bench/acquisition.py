"""Disagreement-guided vs stratified acquisition in sequential games; writes bench/ACQUISITION.md.

Scripted teacher/student pairs whose difference sits in a few prompts: the student answers like
the teacher except on a "telling" share of the prompts, where it appends a verbal tic at some
rate. Each mode plays the same seeds with early stopping on; the table gives the power (share of
runs that caught the student), the queries used, and the share of queries spent on telling
prompts. A fixed-n game with the whole budget is the reference.

Run: .venv/bin/python bench/acquisition.py [--seeds 12] [--scenarios 4] [--out bench/ACQUISITION.md]
(``bench/run.py`` runs it as its ``acquisition`` section.)
"""

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from scripted import TIC, sentence  # noqa: E402

import pytest_bbi as bbi  # noqa: E402
from pytest_bbi.models import from_callable  # noqa: E402

PROMPTS = [f"Question {index}: tell me about topic {index}." for index in range(100)]
QUERIES = 800
EPSILON = 0.0
ALPHA = 0.05
ADVERSARIES = ["stylometric"]

SCENARIOS = [
    # (label, share of prompts that are telling, tic rate on them)
    ("tic always, on 20% of prompts", 0.20, 1.0),
    ("tic always, on 10% of prompts", 0.10, 1.0),
    ("tic always, on 5% of prompts", 0.05, 1.0),
    ("tic half the time, on 20% of prompts", 0.20, 0.5),
]

MODES = [
    ("fixed-n, stratified", False, "stratified"),
    ("sequential, stratified", True, "stratified"),
    ("sequential, disagreement", True, "disagreement"),
]


def answer(prompt, seed, tic_rate=0.0):
    """One or two sentences of the scripted grammar, the tic appended at ``tic_rate``."""
    rng = random.Random(f"{seed}:{prompt}")
    text = " ".join(sentence(rng) for _ in range(rng.choice([1, 2])))
    return text + TIC if rng.random() < tic_rate else text


def pair(telling_share, tic_rate):
    telling = set(PROMPTS[: round(telling_share * len(PROMPTS))])
    asked = []

    def student(prompt, seed):
        asked.append(prompt)
        return answer(prompt, seed, tic_rate if prompt in telling else 0.0)

    teacher = from_callable(answer, name="teacher")
    return teacher, from_callable(student, name="student"), telling, asked


def play(telling_share, tic_rate, sequential, acquisition, seed):
    teacher, student, telling, asked = pair(telling_share, tic_rate)
    budget = bbi.Budget(
        queries=QUERIES, adversaries=ADVERSARIES, sequential=sequential, acquisition=acquisition
    )
    try:
        verdict = bbi.assert_indistinguishable(
            teacher, student, PROMPTS, budget=budget, epsilon=EPSILON, alpha=ALPHA, seed=seed
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    on_telling = sum(prompt in telling for prompt in asked) / len(asked)
    return verdict.decision == "distinguishable", verdict.queries, on_telling


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument(
        "--scenarios", type=int, default=len(SCENARIOS), help="play only the first N scenarios"
    )
    parser.add_argument("--out", type=Path, default=HERE / "ACQUISITION.md")
    args = parser.parse_args()
    seeds = range(args.seeds)
    started = time.perf_counter()
    header = (
        "| scenario | mode | power | queries used, mean (median) | queries on telling prompts |"
    )
    lines = [header, "|---|---|---:|---:|---:|"]
    for label, share, rate in SCENARIOS[: args.scenarios]:
        for mode, sequential, acquisition in MODES:
            runs = [play(share, rate, sequential, acquisition, seed) for seed in seeds]
            caught = [run[0] for run in runs]
            queries = [run[1] for run in runs]
            telling = [run[2] for run in runs]
            lines.append(
                f"| {label} | {mode} | {sum(caught)}/{len(runs)} "
                f"| {statistics.mean(queries):.0f} ({statistics.median(queries):.0f}) "
                f"| {statistics.mean(telling):.0%} |"
            )
            print(lines[-1], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = [
        "# Acquisition: disagreement-guided vs stratified",
        "",
        f"Budget {QUERIES} queries, adversaries {ADVERSARIES}, ε = {EPSILON}, α = {ALPHA}, "
        f"detect mode, {len(seeds)} seeds per row, {len(PROMPTS)} prompts; {machine}; "
        f"{time.perf_counter() - started:.0f} s. Power is the share of runs that caught the "
        "student. Produced by "
        "`.venv/bin/python bench/acquisition.py`.",
        "",
        *lines,
        "",
    ]
    args.out.write_text("\n".join(report), encoding="utf-8")
    print("\n".join(report))


if __name__ == "__main__":
    main()
