"""Every rule that decides pass or fail: the α split, the two families, stopping, the certificate.

A game is a family of cells, one per (bucket, adversary), each with H0 "advantage ≤ ε" and
H0' "advantage ≥ ε" (:mod:`pytest_bbi.game.evidence` gives each cell's p-values and bounds):

- **distinguishable** is claimed for the cells that Holm's step-down rejects on the H0 p-values
  at α: whatever the number of cells, a game whose every advantage is ≤ ε fails so with
  probability ≤ α.
- **certified** is an intersection–union claim (Berger 1982): every cell's H0' is rejected at α
  itself, with no division by the number of cells, or a bucket's white-box certificate bounds
  every adversary there within ε. When both routes can certify, α is split between them.
- **undetected** (detect mode) means no cell was shown above ε; a pass carries ``detectable``,
  the smallest advantage the run would have found with power 0.8, and is under-powered when
  that exceeds :func:`~pytest_bbi.game.planner.detect_target`.

Sequential games stop on the same p-values (valid at any look) and on non-binding futility
rules (:func:`progress`), which never touch the boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pytest_bbi import stats
from pytest_bbi.game import planner
from pytest_bbi.game.evidence import Evidence, counts_at_looks, evidence, rejects
from pytest_bbi.game.play import Score, most_confident
from pytest_bbi.verdict import AdversaryResult, BucketResult, Certificate, Decision, Mode

FUTILITY_POWER = 0.01
"""A sequential cell stops looking for what it can no longer show: detect, when even at its
upper confidence bound the chance of crossing its boundary later is below this; certify, when
even at its lower bound the chance of certifying is. Non-binding: the boundaries ignore it."""


@dataclass(frozen=True)
class AlphaSplit:
    """How α is shared between the adversaries' tests and the white-box certificates.

    A certify run passes when every bucket is certified by its adversaries' cells *or* by its
    white-box certificate: a union of two routes, so when both can certify (certify mode, both
    models score completions) each gets half of α and a false certificate by either route stays
    within α. Otherwise the adversaries get all of it.

    Attributes:
        adversaries: the α of the adversaries' families (Holm for detect, each certify cell).
        certificates: the α of each bucket's certificate.
        certificate_counts: whether a certificate within ε can certify a bucket.
    """

    adversaries: float
    certificates: float
    certificate_counts: bool

    @classmethod
    def of(cls, alpha: float, *, white_box: bool, mode: Mode) -> AlphaSplit:
        """The split for a game at level ``alpha``.

        Args:
            alpha: the error rate the decision may have.
            white_box: whether both models can score completions (certificates are computed).
            mode: ``"detect"`` or ``"certify"``.

        Returns:
            The split.
        """
        counts = white_box and mode == "certify"
        share = alpha / 2 if counts else alpha
        return cls(adversaries=share, certificates=share, certificate_counts=counts)


@dataclass(frozen=True)
class Cell:
    """One hypothesis of the family: an adversary's score in one bucket, against that bucket's ε.

    Attributes:
        bucket: the bucket.
        adversary: the adversary's name.
        score: its score so far (its calls and the rounds they came in).
        epsilon: the bucket's ε.
        looks: the bucket's planned cumulative held-out pairs per look (one for fixed n).
        weights: per held-out pair scored, its importance weight d/π; empty when stratified.
    """

    bucket: str
    adversary: str
    score: Score
    epsilon: float
    looks: tuple[int, ...]
    weights: tuple[float, ...] = ()

    @property
    def p0(self) -> float:
        """The accuracy (1 + ε)/2 on the boundary of both hypotheses."""
        return stats.accuracy_threshold(self.epsilon)


def cell_evidence(
    cells: Sequence[Cell], *, lower_level: float, upper_level: float, estimate: bool = True
) -> list[Evidence]:
    """Each cell's evidence, its bounds at the given levels."""
    return [
        evidence(
            cell.score.calls,
            cell.score.rounds,
            cell.weights,
            cell.looks,
            cell.p0,
            lower_level=lower_level,
            upper_level=upper_level,
            estimate=estimate,
        )
        for cell in cells
    ]


def family_evidence(
    cells: Sequence[Cell], alpha: float, *, estimate: bool = True
) -> list[Evidence]:
    """Each cell's evidence: lower bound at α/m, upper bound at α.

    With m cells, α/m is Holm's first step, and every lower bound holds at once; α is a certify
    cell's own level in the intersection–union test.
    """
    return cell_evidence(
        cells, lower_level=alpha / len(cells), upper_level=alpha, estimate=estimate
    )


def _rejects(cell: Cell, level: float, alternative: stats.Alternative) -> bool:
    score = cell.score
    return rejects(score.calls, score.rounds, cell.weights, cell.looks, cell.p0, level, alternative)


def _futile(cell: Cell, level: float) -> bool:
    """Whether a detect cell can no longer show an advantage above ε (or cannot play).

    Its chance of crossing its detect boundary (at the lenient level α) later, were every
    remaining pair as good as its one-sided Clopper–Pearson upper bound, is below
    :data:`FUTILITY_POWER`; a weighted cell is futile once its certify test rejects.
    """
    score = cell.score
    if score.timed_out or len(score.rounds) >= len(cell.looks):
        return True
    if not score.calls:
        return False
    if cell.weights:
        return _rejects(cell, level, "less")
    design = stats.group_sequential_design(cell.looks, cell.p0, level)
    plausible = stats.clopper_pearson_upper(score.correct, score.total, level)
    counts = counts_at_looks(score.calls, score.rounds)
    return stats.conditional_power(design, counts, plausible) < FUTILITY_POWER


def _hopeless(cell: Cell, level: float) -> bool:
    """Whether a certify cell can no longer be shown within ε.

    Its chance of crossing its certify boundary later, were every remaining pair as poor as its
    one-sided Clopper–Pearson lower bound, is below :data:`FUTILITY_POWER`; a weighted cell is
    hopeless once its detect test rejects.
    """
    score = cell.score
    if score.timed_out:
        return True
    if not score.calls or _rejects(cell, level, "less"):
        return False
    if len(score.rounds) >= len(cell.looks):
        return True
    if cell.weights:
        return _rejects(cell, level, "greater")
    design = stats.group_sequential_design(cell.looks, cell.p0, level, alternative="less")
    plausible = stats.clopper_pearson_lower(score.correct, score.total, level)
    counts = counts_at_looks(score.calls, score.rounds)
    return stats.conditional_power(design, counts, plausible) < FUTILITY_POWER


@dataclass(frozen=True)
class Progress:
    """Where a sequential game stands after a round.

    Attributes:
        stop: whether the whole game is over (distinguishable, or certify can no longer pass).
        settled: the buckets that need no more rounds.
    """

    stop: bool
    settled: frozenset[str]


def progress(
    cells: Sequence[Cell],
    *,
    alpha: AlphaSplit,
    mode: Mode,
    certified: Mapping[str, bool],
) -> Progress:
    """Whether a sequential game goes on, and which buckets are settled.

    The game stops as soon as Holm's step-down rejects some cell (distinguishable: its first
    step, some cell's detect design at α/m crossed). In detect mode a bucket is settled when
    each of its cells is futile (:func:`_futile`); in certify mode when each of its cells is
    within ε (its certify design at α crossed) or its certificate certifies it, and the whole
    game stops once some bucket can no longer be certified (:func:`_hopeless`, unless a
    certificate may still certify it). The futility stops are non-binding: the boundaries
    ignore them, and every p-value stays valid at whatever look the game stopped.

    Args:
        cells: every cell with its score so far.
        alpha: the α split.
        mode: ``"detect"`` or ``"certify"``.
        certified: bucket → whether its white-box certificate certifies it (when it counts).

    Returns:
        The progress.
    """
    level = alpha.adversaries
    if any(_rejects(cell, level / len(cells), "greater") for cell in cells):
        return Progress(stop=True, settled=frozenset())  # Holm's first step rejects
    settled: set[str] = set()
    for bucket in dict.fromkeys(cell.bucket for cell in cells):
        mine = [cell for cell in cells if cell.bucket == bucket]
        if mode == "detect":
            if all(_futile(cell, level) for cell in mine):
                settled.add(bucket)
        elif certified.get(bucket, False) or all(_rejects(c, level, "less") for c in mine):
            settled.add(bucket)
        elif not alpha.certificate_counts and any(_hopeless(cell, level) for cell in mine):
            return Progress(stop=True, settled=frozenset(settled))
    return Progress(stop=False, settled=frozenset(settled))


def _result(cell: Cell, found: Evidence, *, rejected: bool, within: bool) -> AdversaryResult:
    score = cell.score
    return AdversaryResult(
        name=cell.adversary,
        correct=score.correct,
        total=score.total,
        advantage=stats.to_advantage(score.correct / score.total) if score.total else 0.0,
        estimate=stats.to_advantage(found.estimate),
        lower=stats.to_advantage(found.lower),
        upper=stats.to_advantage(found.upper),
        p_value=found.detect_p,
        certify_p_value=found.certify_p,
        seconds=score.seconds,
        timed_out=score.timed_out,
        rejected=rejected,
        within=within,
        examples=score.examples,
        details=dict(score.details),
    )


def _pooled(
    name: str,
    cells: Sequence[Cell],
    results: Sequence[AdversaryResult],
    level: float,
    family: int,
) -> AdversaryResult:
    """One adversary over every bucket: its counts summed, its bounds averaged over buckets.

    Each bucket's bound is taken at its family level divided by the number of buckets B, so
    that all of them hold at once and their average bounds the adversary's accuracy on the whole
    prompt list (buckets weigh equally: each has an equal share of the queries). The p-value of
    "advantage ≤ ε in every bucket" is Bonferroni's over the buckets; that of "advantage ≥ ε in
    some bucket" is the largest of the buckets' (intersection–union).
    """
    scores = [cell.score for cell in cells]
    spread = cell_evidence(
        cells,
        lower_level=level / family / len(cells),
        upper_level=level / len(cells),
        estimate=False,
    )
    pooled = AdversaryResult(
        name=name,
        correct=sum(score.correct for score in scores),
        total=sum(score.total for score in scores),
        advantage=0.0,
        estimate=sum(result.estimated for result in results) / len(results),
        lower=stats.to_advantage(sum(item.lower for item in spread) / len(spread)),
        upper=stats.to_advantage(sum(item.upper for item in spread) / len(spread)),
        p_value=min(1.0, len(cells) * min(result.p_value for result in results)),
        certify_p_value=max(result.certify_p_value for result in results),
        seconds=sum(score.seconds for score in scores),
        timed_out=any(score.timed_out for score in scores),
        rejected=any(result.rejected for result in results),
        within=all(result.within for result in results),
        examples=most_confident([example for score in scores for example in score.examples]),
        details={
            key: sum(score.details.get(key, 0) for score in scores)
            for key in dict.fromkeys(key for score in scores for key in score.details)
        },
    )
    if pooled.total:
        pooled = replace(pooled, advantage=stats.to_advantage(pooled.correct / pooled.total))
    return pooled


@dataclass(frozen=True)
class Outcome:
    """Why a finished game passed or failed.

    Attributes:
        decision: the decision over every (bucket, adversary) cell, certificates included.
        cells: every cell with its result, in order (bucket by bucket, adversary by adversary).
        buckets: bucket → its part of the verdict (certificate and pass/fail included).
        adversaries: adversary → its result: the tested one with a single bucket, else over
            every bucket (:func:`_pooled`).
        queries_to_decide: for an inconclusive certify run, an estimate of the queries (over
            all buckets) that would decide; otherwise ``None``.
        power: the run's detectable advantage and whether it is under-powered.
    """

    decision: Decision
    cells: list[tuple[Cell, AdversaryResult]]
    buckets: dict[str, BucketResult]
    adversaries: dict[str, AdversaryResult]
    queries_to_decide: int | None
    power: planner.Power


def _queries_to_decide(
    undecided: Sequence[tuple[Cell, AdversaryResult]],
    level: float,
    train_fraction: float,
    buckets: int,
) -> int | None:
    """A rough estimate of the queries a fixed-n rerun needs to settle the undecided cells."""
    pairs = [
        stats.held_out_pairs_to_decide(r.correct, r.total, c.epsilon, level) if r.total else None
        for c, r in undecided
    ]
    if not pairs or None in pairs:
        return None
    most = max(p for p in pairs if p is not None)
    return math.ceil(most / (1 - train_fraction)) * buckets


def decide_game(
    cells: Sequence[Cell],
    *,
    alpha: AlphaSplit,
    mode: Mode,
    train_fraction: float,
    queries: Mapping[str, int],
    prompts: Mapping[str, int],
    certificates: Mapping[str, Certificate],
) -> Outcome:
    """Decide a finished game: Holm for distinguishable, intersection–union for certified.

    Args:
        cells: every (bucket, adversary) cell, bucket by bucket.
        alpha: the α split between adversaries and certificates.
        mode: ``"detect"`` or ``"certify"``.
        train_fraction: the share of queries that trained the adversaries.
        queries: bucket → the queries it spent.
        prompts: bucket → the entries of its prompt list.
        certificates: bucket → its white-box certificate, for white-box games.

    Returns:
        The outcome.
    """
    level = alpha.adversaries
    found = family_evidence(cells, level)
    rejected = stats.holm([item.detect_p for item in found], level)
    results = [
        _result(cell, item, rejected=flag, within=item.certify_p <= level)
        for cell, item, flag in zip(cells, found, rejected, strict=True)
    ]
    paired = list(zip(cells, results, strict=True))
    bucket_cells = {b: [(c, r) for c, r in paired if c.bucket == b] for b in queries}
    looks = {b: mine[0][0].looks for b, mine in bucket_cells.items()}
    power = planner.power_of(
        looks,
        {b: mine[0][0].epsilon for b, mine in bucket_cells.items()},
        alpha=level,
        adversaries=len(cells) // len(queries),
        train_fraction=train_fraction,
        weighted=any(cell.weights for cell in cells),
    )
    buckets = {
        bucket: _bucket_result(
            bucket,
            mine,
            queries[bucket],
            prompts[bucket],
            mode,
            certificates.get(bucket),
            alpha.certificate_counts,
            power.detectable[bucket],
        )
        for bucket, mine in bucket_cells.items()
    }
    decision: Decision
    to_decide = None
    if any(rejected):
        decision = "distinguishable"
    elif any(cell.score.timed_out for cell in cells):
        # An adversary that overran its safety limit (Budget.seconds) has no answer: dropping it
        # would silently shrink the adversary class, so without a rejection elsewhere the run
        # decides nothing, in either mode, and says why.
        decision = "inconclusive"
    elif mode == "detect":
        decision = "undetected"
    elif all(bucket.passed for bucket in buckets.values()):
        decision = "certified"
    else:
        decision = "inconclusive"
        undecided = [(c, r) for c, r in paired if not r.within and not buckets[c.bucket].passed]
        to_decide = _queries_to_decide(undecided, level, train_fraction, len(buckets))
    if len(buckets) == 1:
        adversaries = dict(next(iter(buckets.values())).adversaries)
    else:
        names = dict.fromkeys(cell.adversary for cell in cells)
        adversaries = {
            name: _pooled(
                name,
                [c for c in cells if c.adversary == name],
                [r for c, r in paired if c.adversary == name],
                level,
                len(cells),
            )
            for name in names
        }
    return Outcome(decision, paired, buckets, adversaries, to_decide, power)


def _bucket_result(
    bucket: str,
    cells: Sequence[tuple[Cell, AdversaryResult]],
    queries: int,
    prompts: int,
    mode: str,
    bound: Certificate | None,
    certificate_counts: bool,
    detectable: float | None,
) -> BucketResult:
    """One bucket's part of the verdict, from its (cell, result) pairs and its certificate."""
    results = [result for _, result in cells]
    epsilon = cells[0][0].epsilon
    passed = not any(result.rejected for result in results)
    if mode == "certify":
        by_certificate = (
            certificate_counts and bound is not None and bound.advantage_upper <= epsilon
        )
        passed = passed and (by_certificate or all(result.within for result in results))
    return BucketResult(
        name=bucket,
        passed=passed,
        epsilon=epsilon,
        queries=queries,
        prompts=prompts,
        advantage=max(result.advantage for result in results),
        estimate=max(result.estimated for result in results),
        lower=max(result.lower for result in results),
        upper=max(result.upper for result in results),
        detectable=detectable,
        adversaries={result.name: result for result in results},
        certificate=bound,
    )
