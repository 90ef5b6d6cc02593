"""The white-box certificate: a bound on every adversary from each pair scored by both models."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_bbi import stats
from pytest_bbi.errors import ModelOutputError
from pytest_bbi.game.acquisition import WEIGHT_BOUND, Query
from pytest_bbi.models.base import Scorer, check_scores
from pytest_bbi.verdict import Certificate


@dataclass(frozen=True)
class Terms:
    """One query's two certificate terms, each in [0, 1].

    Attributes:
        pair: (1 − S(a)T(b) / (T(a)S(b)))₊ for the teacher's sample a and the student's b: its
            mean is the optimal pairwise advantage TV(T⊗S, S⊗T) (see
            :func:`pytest_bbi.stats.pairwise_tv_terms`).
        single: (1 − S(a)/T(a))₊: its mean is the per-query total variation δ.
    """

    pair: float
    single: float


def _check_own(
    name: str, prompts: Sequence[str], outputs: Sequence[str], log_p: Sequence[float]
) -> None:
    for index, value in enumerate(log_p):
        if value == -math.inf:
            raise ModelOutputError(
                f"model {name!r} gives its own completion {outputs[index]!r:.60} (prompt "
                f"{prompts[index]!r:.60}) probability 0: its score() does not describe what its "
                "generate() samples, so no white-box certificate can be computed."
            )


def score_pairs(
    teacher: Scorer,
    student: Scorer,
    names: tuple[str, str],
    queries: Sequence[Query],
    teacher_outputs: Sequence[str],
    student_outputs: Sequence[str],
) -> list[Terms]:
    """Score both completions of every query under both models: one pair of terms each.

    Args:
        teacher: the reference model, able to score.
        student: the model under test, able to score.
        names: the teacher's and the student's names, for messages.
        queries: the queries both models answered.
        teacher_outputs: the teacher's completions, one per query (samples a ~ T(·|x)).
        student_outputs: the student's completions (samples b ~ S(·|x)).

    Returns:
        The terms, one per query.

    Raises:
        ModelOutputError: when a model's scores are malformed, or a model gives its own
            completion probability 0 (its ``score`` does not match its ``generate``).
    """
    prompts = [query.prompt for query in queries] * 2
    completions = [*teacher_outputs, *student_outputs]
    log_t = check_scores(names[0], completions, teacher.score(prompts, completions))
    log_s = check_scores(names[1], completions, student.score(prompts, completions))
    n = len(queries)
    _check_own(names[0], prompts, teacher_outputs, log_t[:n])
    _check_own(names[1], prompts, student_outputs, log_s[n:])
    pairs = stats.pairwise_tv_terms(log_t[:n], log_s[:n], log_t[n:], log_s[n:])
    singles = stats.tv_terms(log_t[:n], log_s[:n])
    return [Terms(p, s) for p, s in zip(pairs, singles, strict=True)]


def _upper(
    values: Sequence[float], alpha: float, *, anytime: bool, weighted: bool, horizon: int
) -> float:
    if not anytime:
        return stats.mean_upper_bound(values, alpha)
    if not values:
        return 1.0
    bound = WEIGHT_BOUND if weighted else 1.0
    return min(1.0, stats.betting_upper_bound(values, alpha, bound=bound, horizon=horizon))


def certificate(
    terms: Sequence[Terms],
    weights: Sequence[float],
    *,
    queries: int,
    alpha: float,
    anytime: bool,
    horizon: int,
    seconds: float,
) -> Certificate:
    """Bound every adversary's advantage on the prompt list from the scored pairs.

    A fixed-n game's terms are independent given the prompts, so a Chernoff bound on their
    mean holds (:func:`~pytest_bbi.stats.mean_upper_bound`). A sequential game may stop on
    them, and a disagreement-guided game draws prompts with propensities π(x): then each term
    is weighted by d(x)/π(x) (1 without reweighting) and bounded by an anytime-valid betting
    bound, whose guarantee holds at whatever round the game stopped.

    Args:
        terms: one per query, in the order the queries were asked.
        weights: per query, its importance weight d(x)/π(x) (empty: all 1).
        queries: q, for the bound over several queries.
        alpha: the error level of each upper bound.
        anytime: whether to use the anytime-valid betting bound (sequential games).
        horizon: the queries the betting bound is tuned for (the bucket's planned queries).
        seconds: the time spent scoring.

    Returns:
        The certificate.
    """
    weighted = bool(weights)
    scale = list(weights) if weighted else [1.0] * len(terms)
    pair = [term.pair * weight for term, weight in zip(terms, scale, strict=True)]
    single = [term.single * weight for term, weight in zip(terms, scale, strict=True)]
    tv_upper = _upper(single, alpha, anytime=anytime, weighted=weighted, horizon=horizon)
    return Certificate(
        samples=len(terms),
        advantage=min(1.0, math.fsum(pair) / len(pair)) if pair else 0.0,
        advantage_upper=_upper(pair, alpha, anytime=anytime, weighted=weighted, horizon=horizon),
        tv=min(1.0, math.fsum(single) / len(single)) if single else 0.0,
        tv_upper=tv_upper,
        queries=queries,
        queries_upper=stats.queries_bound_from_tv(tv_upper, queries),
        alpha=alpha,
        anytime=anytime,
        seconds=seconds,
    )


def combined(
    certificates: Sequence[Certificate], bucket_bounds: Sequence[Certificate], queries: int
) -> Certificate:
    """The certificate over every bucket, from the buckets' certificates.

    The population weighs every bucket equally (each has an equal share of the queries), so
    the mean of the buckets' estimates estimates the whole list's, and the mean of bounds that
    hold at once (``bucket_bounds``: each bucket's at α divided by the number of buckets)
    bounds it.

    Args:
        certificates: each bucket's certificate at its own α.
        bucket_bounds: each bucket's certificate at α / buckets.
        queries: q, the budget's queries.

    Returns:
        The certificate over all buckets, at the buckets' α.
    """
    count = len(certificates)
    tv_upper = sum(bound.tv_upper for bound in bucket_bounds) / count
    return Certificate(
        samples=sum(bound.samples for bound in certificates),
        advantage=sum(bound.advantage for bound in certificates) / count,
        advantage_upper=sum(bound.advantage_upper for bound in bucket_bounds) / count,
        tv=sum(bound.tv for bound in certificates) / count,
        tv_upper=tv_upper,
        queries=queries,
        queries_upper=stats.queries_bound_from_tv(tv_upper, queries),
        alpha=certificates[0].alpha,
        anytime=certificates[0].anytime,
        seconds=sum(bound.seconds for bound in certificates),
    )
