"""Every rule that decides pass or fail: the α split, the tests, the certificate route, pooling.

Fixed-n games use Holm / Bonferroni bounds, sequential games anytime-valid sequences per round;
:func:`decide_game` applies them to a finished game and says why it passed or failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pytest_bbi import stats
from pytest_bbi.game.play import Score, most_confident
from pytest_bbi.verdict import AdversaryResult, BucketResult, Certificate, Decision, Mode


@dataclass(frozen=True)
class AlphaSplit:
    """How α is shared between the adversaries' tests and the white-box certificates.

    The certificate counts towards certify decisions only in a fixed-n game: its bound is a
    fixed-n bound, and a sequential game stops at a time that depends on the same samples. When
    it counts, α is split: half bounds the adversaries, half the certificates, so that passing
    by either route keeps the error rate at α.

    Attributes:
        adversaries: the α of the adversaries' family of tests.
        certificates: the α of the certificates, shared equally by the buckets.
        certificate_counts: whether a certificate within ε can certify a bucket.
    """

    adversaries: float
    certificates: float
    certificate_counts: bool

    @classmethod
    def of(cls, alpha: float, *, white_box: bool, mode: Mode, sequential: bool) -> AlphaSplit:
        """The split for a game at level ``alpha``.

        Args:
            alpha: the error rate the decision may have.
            white_box: whether both models can score completions (certificates are computed).
            mode: ``"detect"`` or ``"certify"``.
            sequential: whether the game is played in rounds with early stopping.

        Returns:
            The split.
        """
        counts = white_box and mode == "certify" and not sequential
        share = alpha / 2 if counts else alpha
        return cls(adversaries=share, certificates=share, certificate_counts=counts)


@dataclass(frozen=True)
class Cell:
    """One hypothesis of the family: an adversary's score in one bucket, against that bucket's ε.

    ``planned_pairs`` is the number of held-out pairs the bucket would score if its whole budget
    were spent; sequential bounds are tuned for it.
    """

    bucket: str
    adversary: str
    score: Score
    epsilon: float
    planned_pairs: int


def result_for(
    name: str,
    score: Score,
    *,
    epsilon: float,
    bound_alpha: float,
    sequential: bool,
    planned_pairs: int,
) -> AdversaryResult:
    """Turn a count into an :class:`AdversaryResult` with bounds at ``bound_alpha``.

    Fixed-n: one-sided Clopper–Pearson bounds, each at ``bound_alpha``, and the exact binomial
    p-value. Sequential: the two-sided anytime-valid confidence sequence at ``bound_alpha``
    (tuned for ``planned_pairs``) and its anytime-valid p-value, both valid at whatever round
    the game stopped.

    Args:
        name: the adversary's name.
        score: its count.
        epsilon: its bucket's ε, the null hypothesis of the p-value.
        bound_alpha: the error level of the bounds.
        sequential: whether the game was played in rounds with early stopping.
        planned_pairs: the held-out pairs of the whole budget, for the sequential tuning.

    Returns:
        The result, not yet marked rejected.
    """
    k, n = score.correct, score.total
    threshold = stats.accuracy_threshold(epsilon)
    if sequential:
        lower, upper = stats.confidence_sequence(k, n, bound_alpha, planned_pairs)
        p_value = stats.anytime_p_value(k, n, threshold, planned_pairs)
    else:
        lower = stats.clopper_pearson_lower(k, n, bound_alpha)
        upper = stats.clopper_pearson_upper(k, n, bound_alpha)
        p_value = stats.binomial_p_value(k, n, threshold)
    return AdversaryResult(
        name=name,
        correct=k,
        total=n,
        advantage=stats.to_advantage(k / n) if n else 0.0,
        lower=stats.to_advantage(lower),
        upper=stats.to_advantage(upper),
        p_value=p_value,
        seconds=score.seconds,
        timed_out=score.timed_out,
        examples=score.examples,
        details=dict(score.details),
    )


def is_settled(cells: Sequence[tuple[Cell, AdversaryResult]]) -> bool:
    """Whether more pairs cannot change a sequential game's outcome for these cells.

    Every upper bound is within its ε (or the adversary ran out of time): certify can pass them,
    and while the confidence sequences hold no lower bound will ever pass ε, so detect has
    nothing left to find.

    Args:
        cells: (cell, result from :func:`decide`) pairs, e.g. those of one bucket.

    Returns:
        True when every cell is timed out or has its upper bound at most its ε.
    """
    return all(result.timed_out or result.upper <= cell.epsilon for cell, result in cells)


def decide(
    cells: Sequence[Cell], *, alpha: float, mode: Mode, train_fraction: float, sequential: bool
) -> tuple[Decision, list[AdversaryResult], int | None]:
    """Decide the family of hypotheses H0: advantage ≤ ε, one per (bucket, adversary) cell.

    Bounds are taken at α/m each (Bonferroni over the m cells). Fixed-n: one-sided
    Clopper–Pearson bounds, so the m upper bounds hold together with confidence 1 − α, and so do
    the m lower bounds; ``detect`` rejects by exact binomial tests with Holm's correction, so it
    fails with probability ≤ α when every true advantage is within its ε. Sequential: two-sided
    anytime-valid confidence sequences, which hold together at every round with confidence
    1 − α, so stopping as soon as they are decisive keeps that guarantee; both modes reject where
    a lower bound is above ε (the anytime counterpart of Bonferroni; Holm needs all p-values at
    one fixed time). ``certify`` passes only when every upper bound is within its ε, and fails as
    distinguishable when some lower bound is above it. When every adversary ran out of time
    nothing was tested, and either mode is inconclusive.

    Returns:
        The decision, one result per cell (in order), and for an inconclusive certify run an
        estimate of the queries per bucket that would decide.
    """
    bound_alpha = alpha / len(cells)
    results = [
        result_for(
            cell.adversary,
            cell.score,
            epsilon=cell.epsilon,
            bound_alpha=bound_alpha,
            sequential=sequential,
            planned_pairs=cell.planned_pairs,
        )
        for cell in cells
    ]
    if mode == "detect" and not sequential:
        rejections = stats.holm([result.p_value for result in results], alpha)
    else:
        rejections = [
            r.total > 0 and r.lower > cell.epsilon for r, cell in zip(results, cells, strict=True)
        ]
    results = [
        replace(result, rejected=rejected)
        for result, rejected in zip(results, rejections, strict=True)
    ]
    if any(rejections):
        return "distinguishable", results, None
    if all(result.timed_out for result in results):
        return "inconclusive", results, None
    if mode == "detect":
        return "indistinguishable", results, None
    undecided = [(r, c) for r, c in zip(results, cells, strict=True) if r.upper > c.epsilon]
    if not undecided:
        return "certified", results, None
    to_decide = stats.pairs_to_decide_sequentially if sequential else stats.held_out_pairs_to_decide
    pairs_needed = [
        to_decide(r.correct, r.total, c.epsilon, bound_alpha) if r.total else None
        for r, c in undecided
    ]
    if any(pairs is None for pairs in pairs_needed):
        return "inconclusive", results, None
    most = max(pairs for pairs in pairs_needed if pairs is not None)
    return "inconclusive", results, math.ceil(most / (1 - train_fraction))


def _bucket_result(
    bucket: str,
    cells: Sequence[tuple[Cell, AdversaryResult]],
    queries: int,
    mode: str,
    bound: Certificate | None,
    certificate_counts: bool,
) -> BucketResult:
    """One bucket's part of the verdict, from its (cell, result) pairs and its certificate."""
    results = [result for _, result in cells]
    passed = not any(result.rejected for result in results)
    if mode == "certify":
        certified = (
            certificate_counts
            and bound is not None
            and bound.advantage_upper <= cells[0][0].epsilon
        )
        passed = passed and (
            certified or all(result.upper <= cell.epsilon for cell, result in cells)
        )
    return BucketResult(
        name=bucket,
        passed=passed,
        epsilon=cells[0][0].epsilon,
        queries=queries,
        advantage=max(result.advantage for result in results),
        lower=max(result.lower for result in results),
        upper=max(result.upper for result in results),
        adversaries={result.name: result for result in results},
        certificate=bound,
    )


def _with_certificates(
    decision: Decision, buckets: Mapping[str, BucketResult], mode: str
) -> tuple[Decision, bool]:
    """Certify an undecided certify run whose every bucket passed (by its white-box bound).

    Returns:
        The decision, and whether the certificates changed it.
    """
    if (
        mode == "certify"
        and decision == "inconclusive"
        and all(bucket.passed for bucket in buckets.values())
    ):
        return "certified", True
    return decision, False


def _pooled(
    name: str,
    cells: Sequence[tuple[Cell, AdversaryResult]],
    epsilon: float,
    bound_alpha: float,
    sequential: bool,
) -> AdversaryResult:
    """One adversary's counts summed over buckets, rejected when any of its cells was."""
    scores = [cell.score for cell, _ in cells]
    pooled = Score(
        correct=sum(score.correct for score in scores),
        total=sum(score.total for score in scores),
        seconds=sum(score.seconds for score in scores),
        timed_out=any(score.timed_out for score in scores),
        examples=most_confident([example for score in scores for example in score.examples]),
        details={
            key: sum(score.details.get(key, 0) for score in scores)
            for key in dict.fromkeys(key for score in scores for key in score.details)
        },
    )
    result = result_for(
        name,
        pooled,
        epsilon=epsilon,
        bound_alpha=bound_alpha,
        sequential=sequential,
        planned_pairs=sum(cell.planned_pairs for cell, _ in cells),
    )
    return replace(result, rejected=any(cell_result.rejected for _, cell_result in cells))


@dataclass(frozen=True)
class Outcome:
    """Why a finished game passed or failed.

    Attributes:
        decision: the decision over every (bucket, adversary) cell, certificates included.
        cells: every cell with its result, in order (bucket by bucket, adversary by adversary).
        buckets: bucket → its part of the verdict (certificate and pass/fail included).
        adversaries: adversary → its result: the tested one with a single bucket, else its
            counts pooled over the buckets (rejected when any of its cells was).
        queries_to_decide: for an inconclusive certify run, an estimate of the queries (over
            all buckets) that would decide; otherwise ``None``.
    """

    decision: Decision
    cells: list[tuple[Cell, AdversaryResult]]
    buckets: dict[str, BucketResult]
    adversaries: dict[str, AdversaryResult]
    queries_to_decide: int | None


def decide_game(
    cells: Sequence[Cell],
    *,
    alpha: AlphaSplit,
    mode: Mode,
    epsilon: float,
    train_fraction: float,
    sequential: bool,
    queries: Mapping[str, int],
    certificates: Mapping[str, Certificate],
) -> Outcome:
    """Decide a finished game: the adversaries' tests, then the certificate route, then pooling.

    :func:`decide` decides the family of cells at ``alpha.adversaries``. In certify mode a bucket
    also passes when its white-box certificate (at ``alpha.certificates``, when it counts) bounds
    every advantage within its ε, and a run whose every bucket passed that way is certified.

    Args:
        cells: every (bucket, adversary) cell, bucket by bucket.
        alpha: the α split between adversaries and certificates.
        mode: ``"detect"`` or ``"certify"``.
        epsilon: the assertion's ε, the null hypothesis of the pooled results.
        train_fraction: the share of queries that trained the adversaries.
        sequential: whether the game was played in rounds with early stopping.
        queries: bucket → the queries it spent.
        certificates: bucket → its white-box certificate, for white-box games.

    Returns:
        The outcome.
    """
    decision, results, per_bucket_to_decide = decide(
        cells,
        alpha=alpha.adversaries,
        mode=mode,
        train_fraction=train_fraction,
        sequential=sequential,
    )
    paired = list(zip(cells, results, strict=True))
    buckets = {
        bucket: _bucket_result(
            bucket,
            [(c, r) for c, r in paired if c.bucket == bucket],
            count,
            mode,
            certificates.get(bucket),
            alpha.certificate_counts,
        )
        for bucket, count in queries.items()
    }
    decision, certified = _with_certificates(decision, buckets, mode)
    if certified:
        per_bucket_to_decide = None
    if len(buckets) == 1:
        adversaries = dict(next(iter(buckets.values())).adversaries)
    else:
        names = dict.fromkeys(cell.adversary for cell in cells)
        adversaries = {
            name: _pooled(
                name,
                [(c, r) for c, r in paired if c.adversary == name],
                epsilon,
                alpha.adversaries / len(cells),
                sequential,
            )
            for name in names
        }
    return Outcome(
        decision=decision,
        cells=paired,
        buckets=buckets,
        adversaries=adversaries,
        queries_to_decide=None
        if per_bucket_to_decide is None
        else per_bucket_to_decide * len(buckets),
    )
