"""Section ``early-stopping``: how much of the budget sequential games spend."""

from __future__ import annotations

import statistics
import sys
from functools import partial
from typing import Any

from sections.common import (
    EARLY_STOP_SHARE_TARGET,
    ROOT,
    Row,
    Section,
    Settings,
    Target,
    status,
)

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
