"""The results of one behavioral decision: per-adversary scores, intervals and the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pytest_bbi.fingerprints.document import Fingerprint
    from pytest_bbi.played import Played

Mode = Literal["detect", "certify"]
Population = Literal["prompts", "traffic"]

# --------------------------------------------------------------------------------------------
# The vocabulary: the only words a report uses for a decision and for one cell
# --------------------------------------------------------------------------------------------

Decision = Literal["undetected", "certified", "distinguishable", "inconclusive"]
"""What a verdict says, in one word:

- ``"undetected"``: detect mode passed: no adversary was shown to exceed ε. Not a claim that
  the models are close; ``Verdict.detectable`` says what the run could have seen.
- ``"certified"``: certify mode passed: every advantage is shown to be at most ε.
- ``"distinguishable"``: some adversary's advantage is shown to exceed ε (a failure).
- ``"inconclusive"``: certify could not show every advantage within ε, or an adversary overran
  its safety limit (``Budget.seconds``) and no other was shown to exceed ε (a failure for want
  of evidence; ``AdversaryResult.overrun`` says by how much).
"""

PASSING: tuple[Decision, ...] = ("undetected", "certified")
"""The decisions that pass the assertion."""

CellStatus = Literal["distinguishable", "within ε", "undetected", "timed out"]
"""What one (bucket, adversary) cell shows: its advantage shown above ε (rejected by Holm's
step-down), shown at most ε (its certify test rejected at α), neither, or not tested."""

UNDERPOWERED = "under-powered"
"""The mark of an undetected pass whose ``detectable`` advantage exceeds its target."""


def cell_status(*, timed_out: bool, rejected: bool, within: bool) -> CellStatus:
    """The one word for a cell (see :data:`CellStatus`)."""
    if timed_out:
        return "timed out"
    if rejected:
        return "distinguishable"
    if within:
        return "within ε"
    return "undetected"


def population_words(population: str, prompts: int) -> str:
    """Which population a verdict speaks for, in words.

    Args:
        population: ``"prompts"`` or ``"traffic"``.
        prompts: the entries of the prompt list.

    Returns:
        E.g. "the 50 prompts given, each weighted equally".
    """
    if population == "traffic":
        return f"the traffic the {prompts} prompts given were sampled from"
    return f"the {prompts} prompts given, each weighted equally"


@dataclass(frozen=True)
class Example:
    """One held-out pair an adversary judged, with both models' outputs unmasked.

    Attributes:
        prompt: the prompt both models answered.
        teacher: the teacher's completion.
        student: the student's completion.
        confidence: how sure the adversary was, from 0 (a coin flip) to 0.5 (certain).
        correct: whether the adversary named the teacher correctly.
    """

    prompt: str
    teacher: str
    student: str
    confidence: float
    correct: bool


@dataclass(frozen=True)
class AdversaryResult:
    """One adversary's score in the pairwise identification game.

    Attributes:
        name: the adversary's registered name.
        correct: k, the held-out pairs where it named the teacher.
        total: n, the held-out pairs it was scored on (0 when it ran out of time).
        advantage: 2·k/n − 1, in [−1, 1], as observed; 0 means it does no better than a coin.
        lower: the lower confidence bound on its advantage on the population, at level α/m (m
            cells: every lower bound of a verdict holds at once with confidence 1 − α).
        upper: the upper confidence bound on its advantage on the population, at level α (each
            upper bound holds with confidence 1 − α: the certify test of an
            intersection–union claim).
        p_value: a valid p-value of H0 "advantage ≤ ε" before Holm's correction: the exact
            binomial test (fixed n), the group-sequential design's (sequential), or the betting
            one (importance-weighted pairs); valid at whatever round the game stopped.
        seconds: the compute it spent fitting and deciding.
        timed_out: whether it ran out of its time budget before deciding every pair.
        rejected: whether H0 was rejected for it by Holm's step-down over every cell.
        examples: the held-out pairs it was most confident about, most confident first.
        details: counts the adversary adds to explain its calls (e.g. the judge's
            consistent-only tally); reported, never used for the decision.
        refits: how many refits on resampled training pairs measured ``fit_sd`` (0 when not
            measured, or for an adversary that does not learn).
        fit_sd: the standard deviation of its held-out accuracy between fits (the part of the
            seed-to-seed variation that is not binomial noise; see
            :mod:`pytest_bbi.game.refits`): 0.0 for an adversary that does not learn, ``None``
            when not measured (a game of several rounds, pooled buckets, or an overrun).
        fits_accuracy: the mean held-out accuracy over the fit and its ``refits`` refits,
            which relation fingerprints compare (it varies less from seed to seed than one
            fit's ``correct / total``); ``None`` when no refit was measured.
        fits_pair_sd: the standard deviation, over held-out pairs, of the share of those fits
            that called a pair right (how much ``fits_accuracy`` moves with the held-out
            pairs); ``None`` when no refit was measured.
        overrun: when it overran its safety limit, by how much (e.g. ``"spent 12.31s, past its
            safety limit of 10s"``); otherwise ``None``.
        estimate: the advantage on the population the verdict speaks for: ``advantage`` in a
            fixed-n game, median-unbiased after a sequential game (k/n overstates it after an
            early stop), the importance-weighted mean under disagreement acquisition. None for
            a result not made by the game.
        certify_p_value: a valid p-value of H0' "advantage ≥ ε" (the certify test).
        within: whether H0' was rejected at α: the advantage is shown to be at most ε.
    """

    name: str
    correct: int
    total: int
    advantage: float
    lower: float
    upper: float
    p_value: float
    seconds: float
    timed_out: bool = False
    rejected: bool = False
    examples: tuple[Example, ...] = ()
    details: Mapping[str, int] = field(default_factory=dict)
    estimate: float | None = None
    certify_p_value: float = 1.0
    within: bool = False

    refits: int = 0
    fit_sd: float | None = None
    fits_accuracy: float | None = None
    fits_pair_sd: float | None = None
    overrun: str | None = None

    @property
    def estimated(self) -> float:
        """``estimate``, or the observed ``advantage`` for a result that has none."""
        return self.advantage if self.estimate is None else self.estimate


@dataclass(frozen=True)
class Certificate:
    """The white-box certificate: a bound on every adversary's advantage, tried or not.

    When both models can score completions, every query's pair (a ~ T(·|x), b ~ S(·|x)) is
    scored under both models, and the term (1 − S(a)T(b) / (T(a)S(b)))₊ has mean
    TV(T⊗S, S⊗T) given x: the advantage of the best possible adversary in the pairwise game
    (the likelihood-ratio rule). The terms' mean estimates it on the population, and
    ``advantage_upper`` bounds it with confidence 1 − ``alpha``: no adversary, whatever its
    compute, has a larger pairwise advantage. The teacher's sample alone gives
    (1 − S(a)/T(a))₊, whose mean is the per-query total variation δ̄, and ``queries_upper``
    bounds what q completions of one model can show.

    Attributes:
        samples: the pairs scored under both models.
        advantage: the estimated optimal pairwise advantage E_x TV(T⊗S, S⊗T).
        advantage_upper: its upper confidence bound: the bound on any adversary's advantage.
        tv: the estimated mean per-query total variation δ̄, in [0, 1].
        tv_upper: its upper confidence bound.
        queries: q, the queries the bound over several queries refers to.
        queries_upper: 1 − (1 − tv_upper)^q, the bound on telling the models apart from q
            completions of one of them.
        alpha: the error level of each upper bound.
        anytime: whether the bounds are anytime-valid betting bounds (sequential or weighted
            games) rather than fixed-n Chernoff bounds.
        seconds: the time spent scoring the samples.
    """

    samples: int
    advantage: float
    advantage_upper: float
    tv: float
    tv_upper: float
    queries: int
    queries_upper: float
    alpha: float
    anytime: bool
    seconds: float


@dataclass(frozen=True)
class ConfidenceBin:
    """Queries whose student confidence fell in one range, and how often the student agreed.

    Attributes:
        low: the least confidence in the bin (mean token log-probability).
        high: the greatest confidence in the bin.
        samples: the student completions in the bin.
        agreeing: those that agreed with the teacher's completion for the same prompt.
        agreement: ``agreeing / samples``.
    """

    low: float
    high: float
    samples: int
    agreeing: int
    agreement: float


@dataclass(frozen=True)
class OperatingPoint:
    """What serving the student only above one confidence threshold would have given.

    Counts are of prompts: each distinct prompt is one unit (its repeated answers are not
    independent), with the mean confidence of its answers and the share of them that agree.

    Attributes:
        threshold: serve the student's answer when its confidence is ≥ this; fall back to the
            teacher below it.
        coverage: the share of prompts the student would serve.
        served: the prompts it would serve.
        agreeing: their agreement, summed (each prompt counts the share of its answers that
            agree with the teacher's; a count when every prompt has one answer).
        agreement: ``agreeing / served``.
        lower: the one-sided lower confidence bound, at ``level``, on what the target is
            compared with: the served prompts' agreement, or, for a target relative to the
            teacher, their agreement divided by the teacher's agreement with itself on them
            (capped at 1). It is 0 for a threshold the fallback procedure gave no level.
        level: the error level this threshold was tested at by the fallback procedure (its
            own share of α plus the level passed on by the threshold before it, when that one
            was shown); the recommendation holds with confidence 1 − α overall.
        teacher_agreement: for a target relative to the teacher, the share of the served
            prompts whose two teacher answers agree with each other; otherwise ``None``.
    """

    threshold: float
    coverage: float
    served: int
    agreeing: float
    agreement: float
    lower: float
    level: float = 0.0
    teacher_agreement: float | None = None


@dataclass(frozen=True)
class Calibration:
    """The student's calibration: its confidence against its agreement with the teacher.

    Confidence is the student's mean token log-probability of its own answer; an answer agrees
    when the agreement rule says it matches the teacher's answer to the same prompt. A
    deployment that serves the student when it is confident and falls back to the teacher
    otherwise needs a threshold: ``threshold`` is the lowest one tried that is shown, with
    confidence 1 − ``alpha``, to serve prompts agreeing at a rate of at least ``target`` (or,
    with ``relative``, at least ``target`` times the teacher's agreement with itself). The
    thresholds are tested one unit per distinct prompt, by a fallback procedure from the most
    confident down (see :mod:`pytest_bbi.game.thresholds`).

    Attributes:
        samples: the (teacher, student) answer pairs measured.
        agreeing: the answer pairs where the student agreed with the teacher.
        agreement: ``agreeing / samples``: the agreement with no fallback.
        confidence: the mean of the student's confidences.
        confidence_sd: their sample standard deviation (0 for one sample).
        auroc: the probability that an agreeing answer has a higher confidence than a
            disagreeing one (ties count half): 0.5 means confidence says nothing about
            agreement, 1 that a threshold separates them perfectly; ``None`` when every answer
            agreed or none did.
        target: the agreement the served prompts must reach (a share of the teacher's own
            agreement when ``relative``).
        alpha: the error level of the recommendation.
        rule: the agreement rule, e.g. ``"embedding cosine ≥ 0.8"``.
        threshold: the recommended threshold (the lowest confidence served), or ``None`` when
            no threshold tried is shown to reach ``target``: fall back always, or gather more
            queries.
        coverage: the share of prompts served at ``threshold`` (0 when it is ``None``).
        served_agreement: the agreement of the prompts served at ``threshold``, or ``None``.
        served_lower: the lower confidence bound behind the recommendation (≥ ``target``), or
            ``None``.
        bins: the answers in equal-count confidence bins, least confident first.
        operating_points: every threshold tried, least confident first.
        seconds: the time spent scoring confidences and measuring agreement.
        prompts: the distinct prompts, the units the thresholds were tested on.
        relative: whether ``target`` is relative to the teacher's agreement with itself.
        teacher_agreement: with ``relative``, the share of prompts whose two teacher answers
            agree with each other (the teacher's A/A agreement, the ceiling of any student's
            agreement with it); otherwise ``None``.
        self_agreement_queries: the extra teacher answers asked to measure it (one per
            prompt the game asked only once; 0 without ``relative``).
    """

    samples: int
    agreeing: int
    agreement: float
    confidence: float
    confidence_sd: float
    auroc: float | None
    target: float
    alpha: float
    rule: str
    threshold: float | None
    coverage: float
    served_agreement: float | None
    served_lower: float | None
    bins: tuple[ConfidenceBin, ...] = ()
    operating_points: tuple[OperatingPoint, ...] = ()
    seconds: float = 0.0
    prompts: int = 0
    relative: bool = False
    teacher_agreement: float | None = None
    self_agreement_queries: int = 0


@dataclass(frozen=True)
class BucketResult:
    """One capability bucket's part of a verdict.

    Attributes:
        name: the bucket (``"all"`` for prompts without a bucket).
        passed: whether no adversary was shown to exceed ε here (and, in certify mode, every
            adversary was shown within ε, or the white-box certificate was).
        epsilon: the ε this bucket was tested against (ini ``bbi_bucket_epsilon`` may set it).
        queries: the queries spent on this bucket (fewer than its share of the budget when a
            sequential game settled it early).
        advantage: the strongest adversary's advantage in this bucket.
        lower: the largest lower bound in this bucket.
        upper: the largest upper bound in this bucket.
        adversaries: name → :class:`AdversaryResult` in this bucket.
        certificate: the white-box bound on every adversary in this bucket, when both models
            can score completions; in certify mode ``advantage_upper`` ≤ ε certifies the bucket.
        calibration: the student's calibration in this bucket, when the assertion was asked
            for it (``calibrate=``); reported, never part of the decision.
        prompts: the entries of this bucket's prompt list: the population it speaks for.
        estimate: the strongest adversary's estimated advantage on that population.
        detectable: the smallest advantage one of its cells would have been found at with
            power 0.8, given α, the number of cells and its held-out pairs (None when not even
            advantage 1 would be).
    """

    name: str
    passed: bool
    epsilon: float
    queries: int
    advantage: float
    lower: float
    upper: float
    adversaries: Mapping[str, AdversaryResult] = field(default_factory=dict)
    certificate: Certificate | None = None
    calibration: Calibration | None = None
    prompts: int = 0
    estimate: float | None = None
    detectable: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`~pytest_bbi.assert_indistinguishable`.

    The headline ``advantage`` is the strongest adversary's; ``lower`` and ``upper`` bound the
    strongest advantage of the class (the largest lower and upper bounds); each side holds with
    confidence 1 − α, for the population named by ``population``.

    Attributes:
        passed: whether the assertion passed.
        decision: ``"undetected"`` (detect found no advantage above ε: not a claim that the
            models are close, see ``detectable``), ``"certified"`` (certify showed every
            advantage ≤ ε), ``"distinguishable"`` or ``"inconclusive"`` (see
            :data:`~pytest_bbi.verdict.Decision`).
        mode: ``"detect"`` or ``"certify"``.
        epsilon: ε, the largest advantage tolerated.
        alpha: α, the error rate the decision is allowed.
        advantage: the largest observed advantage (2·k/n − 1) over the adversary class.
        lower: the largest lower confidence bound over the adversary class.
        upper: the largest upper confidence bound over the adversary class.
        queries: the queries spent (each query is one prompt sent to each model); fewer than
            ``budget_queries`` when a sequential game stopped early.
        seconds: the adversaries' compute, summed (generation excluded).
        generation_seconds: wall time spent generating completions.
        adversaries: name → :class:`AdversaryResult`, in the order they ran. With one bucket
            these are the tested results; over several buckets each adversary's counts are
            summed and its bounds hold for the whole prompt list (``rejected`` when it was
            rejected in any bucket).
        buckets: bucket → :class:`BucketResult`; the decision is made over every
            (bucket, adversary) cell: Holm's step-down for "distinguishable", every cell at α
            (intersection–union) for "certified".
        seed: the run seed that fixed every draw; pass it as ``--bbi-seed`` to replay.
        capability: the capability bucket tested, when known.
        queries_to_decide: for an inconclusive certify run, a rough estimate of the queries that
            would settle it; otherwise ``None``.
        budget_queries: the budget's q, the most ``queries`` could have been (``None`` for a
            verdict not made by :func:`~pytest_bbi.assert_indistinguishable`).
        sequential: whether the game was played in planned rounds with group-sequential
            designs and early stopping (``Budget(sequential=True)``) rather than decided once
            at fixed n.
        acquisition: how prompts were chosen: ``"stratified"`` or ``"disagreement"``.
        rounds: the rounds played (1 for a fixed-n game).
        certificate: the white-box bound on every adversary over all buckets, when both models
            can score completions (each bucket has its own in ``buckets``); otherwise ``None``.
        skipped: adversary name → why it did not play (e.g. a white-box adversary against a
            model that cannot score completions).
        calibration: the student's calibration over all buckets, with its recommended fallback
            threshold, when the assertion was asked for it (``calibrate=``); each bucket has
            its own in ``buckets``. Reported, never part of the decision.
        estimate: the strongest adversary's estimated advantage on the population (see
            :attr:`AdversaryResult.estimate`).
        detectable: the smallest advantage this run would have detected with power 0.8, given
            its α, its number of (bucket, adversary) cells and its held-out pairs (the weakest
            bucket's; None when not even advantage 1 would be). A pass says little about
            advantages below it.
        detect_target: the advantage a detect pass should be able to find: max(2ε, 0.05).
        underpowered: whether the run passed as ``"undetected"`` with ``detectable`` above
            ``detect_target``: it could not have seen a difference that matters.
        queries_for_power: for an under-powered pass, the queries the planner
            (:func:`pytest_bbi.plan`) says would detect ``detect_target`` with power 0.8.
        population: what the verdict speaks for: ``"prompts"`` (the prompt list, each entry
            weighted equally) or ``"traffic"`` (the traffic the list was sampled from).
        prompts: the entries of the prompt list, over all buckets.
        frozen: whether every adversary was fitted once on its whole training share before any
            held-out pair was scored (fixed-n games and certify mode); otherwise (sequential
            detect) learned adversaries refit each round and a rejection speaks for some fit.
        teacher: the teacher's name (its ``name``, e.g. ``from_callable(..., name=...)`` or the
            spec it was loaded from); ``None`` for a verdict not made by
            :func:`~pytest_bbi.assert_indistinguishable`.
        student: the student's name, likewise.
        played: every bucket's training and held-out pairs and the adversaries' calls, kept in
            memory for exports (:func:`pytest_bbi.export.export_verdict`); not in ``to_dict``.
    """

    passed: bool
    decision: Decision
    mode: Mode
    epsilon: float
    alpha: float
    advantage: float
    lower: float
    upper: float
    queries: int
    seconds: float
    generation_seconds: float
    adversaries: Mapping[str, AdversaryResult] = field(default_factory=dict)
    buckets: Mapping[str, BucketResult] = field(default_factory=dict)
    seed: int = 0
    capability: str | None = None
    queries_to_decide: int | None = None
    budget_queries: int | None = None
    sequential: bool = False
    acquisition: str = "stratified"
    rounds: int = 1
    certificate: Certificate | None = None
    skipped: Mapping[str, str] = field(default_factory=dict)
    calibration: Calibration | None = None
    estimate: float | None = None
    detectable: float | None = None
    detect_target: float | None = None
    underpowered: bool = False
    queries_for_power: int | None = None
    population: Population = "prompts"
    prompts: int = 0
    frozen: bool = True
    teacher: str | None = None
    student: str | None = None
    played: Played | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as plain JSON-ready data, adversaries as a name-keyed mapping."""
        data = asdict(replace(self, played=None))
        del data["played"]
        return data

    @property
    def fingerprint(self) -> Fingerprint:
        """The teacher/student relation as a fingerprint, for ``assert … == bbi_snapshot``."""
        from pytest_bbi.fingerprints.relation import relation_fingerprint

        return relation_fingerprint(self)

    @property
    def failing_buckets(self) -> list[str]:
        """The buckets where the student was told apart (or, in certify mode, not certified)."""
        return [name for name, bucket in self.buckets.items() if not bucket.passed]
