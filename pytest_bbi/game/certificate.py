"""The white-box certificate: a bound on every adversary from teacher samples scored by both."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_bbi import stats
from pytest_bbi.errors import ModelOutputError
from pytest_bbi.game.acquisition import Query
from pytest_bbi.models.base import Scorer, check_scores
from pytest_bbi.verdict import Certificate


def tv_terms(
    teacher: Scorer,
    student: Scorer,
    names: tuple[str, str],
    queries: Sequence[Query],
    teacher_outputs: Sequence[str],
) -> list[float]:
    """Score the teacher's own completions under both models: one total-variation term each.

    Args:
        teacher: the reference model, able to score.
        student: the model under test, able to score.
        names: the teacher's and the student's names, for messages.
        queries: the queries the teacher answered.
        teacher_outputs: its completions, one per query (samples y ~ T(·|x)).

    Returns:
        (1 − p_S(y)/p_T(y))₊ per query (see :func:`pytest_bbi.stats.tv_terms`).

    Raises:
        ModelOutputError: when a model's scores are malformed, or the teacher gives its own
            completion probability 0 (its ``score`` does not match its ``generate``).
    """
    prompts = [query.prompt for query in queries]
    log_t = check_scores(names[0], teacher_outputs, teacher.score(prompts, teacher_outputs))
    log_s = check_scores(names[1], teacher_outputs, student.score(prompts, teacher_outputs))
    for index, value in enumerate(log_t):
        if value == -math.inf:
            raise ModelOutputError(
                f"model {names[0]!r} gives its own completion {teacher_outputs[index]!r:.60} "
                f"(prompt {prompts[index]!r:.60}) probability 0: its score() does not describe "
                "what its generate() samples, so no white-box certificate can be computed."
            )
    return stats.tv_terms(log_t, log_s)


def certificate(terms: Sequence[float], queries: int, alpha: float, seconds: float) -> Certificate:
    """Bound every adversary from the total-variation terms of teacher samples.

    Args:
        terms: one term in [0, 1] per teacher sample (see :func:`tv_terms`).
        queries: q, for the bound over several queries.
        alpha: the error level of the upper confidence bound on the mean total variation.
        seconds: the time spent scoring.

    Returns:
        The certificate.
    """
    tv_upper = stats.mean_upper_bound(terms, alpha)
    return Certificate(
        samples=len(terms),
        tv=math.fsum(terms) / len(terms) if terms else 0.0,
        tv_upper=tv_upper,
        advantage_upper=stats.advantage_bound_from_tv(tv_upper),
        queries=queries,
        queries_upper=stats.queries_bound_from_tv(tv_upper, queries),
        alpha=alpha,
        seconds=seconds,
    )
