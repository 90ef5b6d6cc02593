"""The student's calibration report: confidence against agreement, and a fallback threshold."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_bbi.errors import BudgetError
from pytest_bbi.game.acquisition import Query
from pytest_bbi.game.play import generate_role
from pytest_bbi.game.thresholds import Unit, operating_points, recommended
from pytest_bbi.models.base import Model, TokenScorer, check_token_log_probs
from pytest_bbi.stats import per_prompt_rows
from pytest_bbi.verdict import Calibration, ConfidenceBin

AgreementRule = Literal["embedding", "exact"] | Callable[[str, str], bool]
"""How a student answer is judged to agree with the teacher's answer to the same prompt."""

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Calibrate:
    """Ask :func:`~pytest_bbi.assert_indistinguishable` for the student's calibration report.

    The report pairs each query's student answer with the teacher's answer to the same prompt,
    scores the student's confidence (its mean token log-probability of its own answer, which
    needs a student that implements :class:`~pytest_bbi.models.TokenScorer`, as ``hf:`` models
    do) and whether the answers agree, and recommends the lowest confidence threshold at which
    the prompts the student would serve agree with the teacher at a rate of at least
    ``target``, shown with confidence 1 − ``alpha`` (one unit per distinct prompt; see
    :mod:`pytest_bbi.game.thresholds`). Below it, a deployment should fall back to the teacher.

    With sampled answers the teacher does not agree with itself every time either, so an
    absolute target such as 0.9 can be out of reach of any student. ``relative=True`` makes
    the target a share of the teacher's own agreement: the served prompts must agree with the
    teacher at least ``target`` times as often as two of the teacher's answers to them agree
    with each other (its A/A agreement, the ceiling). Measuring it needs a second teacher
    answer per prompt: where the game asked a prompt twice it uses those two answers, and
    otherwise asks the teacher once more (as a game with more queries would: same seed, so
    the answer comes from the cache the next time). Only ``relative=True`` costs these queries.

    Attributes:
        target: the agreement, in (0, 1], that the served prompts must reach (with
            ``relative``, the share of the teacher's own agreement, e.g. 0.9).
        agreement: ``"embedding"`` (the answers' MiniLM sentence embeddings have cosine
            similarity ≥ ``similarity``), ``"exact"`` (equal after trimming, collapsing
            whitespace and case-folding), or a function ``f(teacher, student) -> bool``.
        similarity: the least cosine similarity that counts as agreement, for ``"embedding"``.
        alpha: the error level of the threshold's guarantee, in (0, 1).
        bins: how many equal-count confidence bins the report shows, at least 1.
        relative: whether ``target`` is relative to the teacher's agreement with itself.

    Raises:
        BudgetError: when a setting is out of range.
    """

    target: float = 0.9
    agreement: AgreementRule = "embedding"
    similarity: float = 0.8
    alpha: float = 0.05
    bins: int = 5
    relative: bool = False

    def __post_init__(self) -> None:
        if _not_number(self.target) or not 0 < self.target <= 1:
            raise BudgetError(
                f"Calibrate(target={self.target!r}): the agreement the student's served answers "
                "must reach lies in (0, 1], e.g. target=0.9."
            )
        if self.agreement not in ("embedding", "exact") and not callable(self.agreement):
            raise BudgetError(
                f"Calibrate(agreement={self.agreement!r}): use 'embedding', 'exact', or a "
                "function f(teacher_answer, student_answer) -> bool."
            )
        if _not_number(self.similarity) or not -1 <= self.similarity <= 1:
            raise BudgetError(
                f"Calibrate(similarity={self.similarity!r}): a cosine similarity lies in "
                "[-1, 1], e.g. similarity=0.8."
            )
        if _not_number(self.alpha) or not 0 < self.alpha < 1:
            raise BudgetError(
                f"Calibrate(alpha={self.alpha!r}): the error level lies in (0, 1), e.g. 0.05."
            )
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or self.bins < 1:
            raise BudgetError(f"Calibrate(bins={self.bins!r}): give a whole number ≥ 1, e.g. 5.")
        if not isinstance(self.relative, bool):
            raise BudgetError(
                f"Calibrate(relative={self.relative!r}): pass True for a target relative to the "
                "teacher's agreement with itself, or False for an absolute one."
            )

    @property
    def rule(self) -> str:
        """The agreement rule in words, as the report shows it."""
        if self.agreement == "embedding":
            return f"embedding cosine ≥ {self.similarity:g}"
        if self.agreement == "exact":
            return "exact match"
        return getattr(self.agreement, "__name__", type(self.agreement).__name__)


def _not_number(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


def settings(calibrate: object) -> Calibrate | None:
    """The settings ``calibrate=`` asks for: ``None`` for ``False``, defaults for ``True``.

    Raises:
        BudgetError: for anything but a bool or a :class:`Calibrate`.
    """
    if calibrate is False or calibrate is None:
        return None
    if calibrate is True:
        return Calibrate()
    if isinstance(calibrate, Calibrate):
        return calibrate
    raise BudgetError(
        f"calibrate={calibrate!r}: pass True for the default report, or "
        "pytest_bbi.Calibrate(target=..., agreement=...) to choose its settings."
    )


def rule_for(calibrate: object, student: object) -> Calibrate | None:
    """The settings of the student's calibration report, after checking it can have one.

    Args:
        calibrate: the assertion's ``calibrate=`` argument.
        student: the model under test.

    Returns:
        The settings, or None when no report was asked for.

    Raises:
        BudgetError: for a ``calibrate=`` that is neither a bool nor a :class:`Calibrate`, or
            when a report was asked for and the student cannot report token log-probabilities.
    """
    rule = settings(calibrate)
    if rule is not None and not isinstance(student, TokenScorer):
        raise BudgetError(
            f"calibrate=...: the student {getattr(student, 'name', student)!r} cannot report "
            "token log-probabilities (its confidence), so it has no calibration report. hf: "
            "models can; a python: model can implement token_log_probs(prompts, completions) "
            "(see pytest_bbi.models.TokenScorer); or drop calibrate=."
        )
    return rule


def confidences(
    student: TokenScorer, name: str, prompts: Sequence[str], completions: Sequence[str]
) -> list[float]:
    """The student's mean token log-probability of each of its completions.

    A completion with no scored token (nothing generated and no stop) counts as certain (0).

    Raises:
        ModelOutputError: when the model's token log-probabilities are malformed.
    """
    rows = check_token_log_probs(name, completions, student.token_log_probs(prompts, completions))
    return [statistics.fmean(row) if row else 0.0 for row in rows]


def agreements(
    rule: Calibrate, teacher_answers: Sequence[str], student_answers: Sequence[str]
) -> list[bool]:
    """Whether each student answer agrees with the teacher's answer to the same prompt."""
    if rule.agreement == "exact":
        return [
            _normalized(teacher) == _normalized(student)
            for teacher, student in zip(teacher_answers, student_answers, strict=True)
        ]
    if rule.agreement == "embedding":
        if not teacher_answers:
            return []
        from pytest_bbi.adversaries.cached_embeddings import embeddings

        vectors = embeddings([*teacher_answers, *student_answers])
        teacher_vectors, student_vectors = (
            vectors[: len(teacher_answers)],
            vectors[len(teacher_answers) :],
        )
        cosines = (teacher_vectors * student_vectors).sum(axis=1)
        return [bool(cosine >= rule.similarity - 1e-9) for cosine in cosines]
    judge = rule.agreement
    return [
        bool(judge(teacher, student))
        for teacher, student in zip(teacher_answers, student_answers, strict=True)
    ]


def _normalized(text: str) -> str:
    return _WHITESPACE.sub(" ", text.strip()).casefold()


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """The probability that a positive's score exceeds a negative's (ties count half).

    Returns:
        The area under the ROC curve, or ``None`` when either class is empty.
    """
    positives = sum(positive)
    negatives = len(positive) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=lambda index: scores[index])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positive_ranks = sum(
        rank for rank, is_positive in zip(ranks, positive, strict=True) if is_positive
    )
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def _bins(ordered: Sequence[tuple[float, bool]], count: int) -> tuple[ConfidenceBin, ...]:
    """Equal-count bins of (confidence, agreed) pairs sorted by confidence, least first."""
    count = min(count, len(ordered))
    bins = []
    for index in range(count):
        members = ordered[index * len(ordered) // count : (index + 1) * len(ordered) // count]
        agreeing = sum(agreed for _, agreed in members)
        bins.append(
            ConfidenceBin(
                low=members[0][0],
                high=members[-1][0],
                samples=len(members),
                agreeing=agreeing,
                agreement=agreeing / len(members),
            )
        )
    return tuple(bins)


@dataclass(frozen=True)
class TeacherPair:
    """Two of the teacher's answers to one prompt, compared: its agreement with itself.

    Attributes:
        agreed: whether the two answers agree under the calibration's agreement rule.
        extra: whether the second answer was asked for the calibration alone (the game asked
            the prompt only once).
    """

    agreed: bool
    extra: bool


def calibration_report(
    confidence: Sequence[float],
    agreed: Sequence[bool],
    rule: Calibrate,
    seconds: float = 0.0,
    *,
    units: Sequence[Hashable] | None = None,
    teacher_pairs: Mapping[Hashable, TeacherPair] | None = None,
) -> Calibration | None:
    """The calibration report of one set of (confidence, agreed) measurements, one per answer.

    The thresholds are tested on units, one per distinct prompt (``units``): a prompt's
    answers are not independent, so repeating a prompt adds no independent evidence. The
    recommendation is the lowest threshold shown to reach ``rule.target`` by the fallback
    procedure of :mod:`pytest_bbi.game.thresholds`: the chance that it serves prompts whose
    agreement is truly below the target is at most ``rule.alpha``. The bins and the AUROC
    describe the answers themselves.

    Args:
        confidence: the student's confidence per answer.
        agreed: whether the student's answer agreed with the teacher's, per answer.
        rule: the settings (target, α, bins, the rule's name, ``relative``).
        seconds: the time spent measuring, reported.
        units: the prompt of each answer; ``None`` when every answer is to its own prompt.
        teacher_pairs: unit → the teacher's two answers to it compared; needed, for every
            unit, when ``rule.relative``.

    Returns:
        The report, or ``None`` when there are no measurements.

    Raises:
        ValueError: when the lists differ in length, or a relative target lacks a unit's
            teacher pair.
    """
    if len(confidence) != len(agreed):
        raise ValueError(f"{len(confidence)} confidences but {len(agreed)} agreements.")
    if not confidence:
        return None
    keys: Sequence[Hashable] = range(len(confidence)) if units is None else units
    unit_confidence, unit_agreement = per_prompt_rows(keys, confidence, agreed)
    distinct = list(dict.fromkeys(keys))
    pairs = _teacher_pairs(rule, distinct, teacher_pairs)
    units_tested = [
        Unit(conf, share, None if pairs is None else float(pairs[key].agreed))
        for key, conf, share in zip(distinct, unit_confidence, unit_agreement, strict=True)
    ]
    points = operating_points(
        units_tested, target=rule.target, alpha=rule.alpha, relative=rule.relative
    )
    chosen = recommended(points, rule.target)
    ordered = sorted(zip(confidence, agreed, strict=True), key=lambda pair: pair[0])
    agreeing = sum(agreed)
    return Calibration(
        samples=len(confidence),
        agreeing=agreeing,
        agreement=agreeing / len(confidence),
        confidence=statistics.fmean(confidence),
        confidence_sd=statistics.stdev(confidence) if len(confidence) > 1 else 0.0,
        auroc=auroc(confidence, agreed),
        target=rule.target,
        alpha=rule.alpha,
        rule=rule.rule,
        threshold=None if chosen is None else chosen.threshold,
        coverage=0.0 if chosen is None else chosen.coverage,
        served_agreement=None if chosen is None else chosen.agreement,
        served_lower=None if chosen is None else chosen.lower,
        bins=_bins(ordered, rule.bins),
        operating_points=points,
        seconds=seconds,
        prompts=len(distinct),
        relative=rule.relative,
        teacher_agreement=None
        if pairs is None
        else sum(pair.agreed for pair in pairs.values()) / len(pairs),
        self_agreement_queries=0 if pairs is None else sum(pair.extra for pair in pairs.values()),
    )


def _teacher_pairs(
    rule: Calibrate, units: Sequence[Hashable], pairs: Mapping[Hashable, TeacherPair] | None
) -> dict[Hashable, TeacherPair] | None:
    """The teacher pairs of ``units`` when the target is relative, else ``None``."""
    if not rule.relative:
        return None
    missing = [unit for unit in units if pairs is None or unit not in pairs]
    if pairs is None or missing:
        raise ValueError(
            f"a target relative to the teacher needs two teacher answers per prompt; "
            f"{len(missing)} of {len(units)} prompts have none (e.g. {missing[0]!r})"
        )
    return {unit: pairs[unit] for unit in units}


@dataclass(frozen=True)
class Measurements:
    """The calibration's measurements, one per answer, in the order of the rows measured.

    Attributes:
        prompts: the prompt of each answer (the unit of the threshold's test).
        confidence: the student's confidence in each answer.
        agreed: whether each student answer agreed with the teacher's.
        teacher_pairs: prompt → the teacher's two answers to it compared (empty unless the
            target is relative).
        seconds: the time spent scoring and comparing.
    """

    prompts: list[str]
    confidence: list[float]
    agreed: list[bool]
    teacher_pairs: dict[Hashable, TeacherPair]
    seconds: float


def measure(
    rule: Calibrate,
    student: TokenScorer,
    student_name: str,
    rows: Sequence[tuple[Query, str, str]],
    teacher: Model | None = None,
    run_seed: int = 0,
) -> Measurements:
    """Score every (query, teacher answer, student answer) row in one pass.

    With a relative target, also compare two teacher answers per prompt (see
    :func:`teacher_pairs`), asking ``teacher`` for the second where the game has none.

    Raises:
        ModelOutputError: when the model's token log-probabilities are malformed.
        ValueError: when a relative target comes without a teacher.
    """
    started = time.perf_counter()
    prompts = [query.prompt for query, _, _ in rows]
    teacher_answers = [teacher_answer for _, teacher_answer, _ in rows]
    student_answers = [student_answer for _, _, student_answer in rows]
    confidence = confidences(student, student_name, prompts, student_answers)
    agreed = agreements(rule, teacher_answers, student_answers)
    pairs: dict[Hashable, TeacherPair] = {}
    if rule.relative:
        if teacher is None:
            raise ValueError("a target relative to the teacher needs the teacher model")
        drawn = [(query, teacher_answer) for query, teacher_answer, _ in rows]
        pairs = teacher_pairs(rule, teacher, drawn, run_seed)
    return Measurements(prompts, confidence, agreed, pairs, time.perf_counter() - started)


def teacher_pairs(
    rule: Calibrate, teacher: Model, answers: Sequence[tuple[Query, str]], run_seed: int
) -> dict[Hashable, TeacherPair]:
    """Two of the teacher's answers to every prompt, compared under ``rule``: its A/A agreement.

    A prompt the game asked twice or more compares its first two answers (sample indices 0
    and 1), at no cost. A prompt asked once gets one more teacher answer, drawn exactly as the
    game would draw the prompt's next query (role ``"teacher"``, the next sample index, the
    run seed), in one call: the cache keeps it, and a game with more queries reuses it.

    Args:
        rule: the agreement rule.
        teacher: the teacher model.
        answers: every (query, teacher answer) the game drew.
        run_seed: the run seed.

    Returns:
        Prompt → its teacher pair.
    """
    by_prompt: dict[str, dict[int, str]] = {}
    for query, answer in answers:
        by_prompt.setdefault(query.prompt, {}).setdefault(query.sample_index, answer)
    firsts: dict[str, str] = {}
    seconds: dict[str, str] = {}
    asked: list[Query] = []
    for prompt, drawn in by_prompt.items():
        indices = sorted(drawn)
        firsts[prompt] = drawn[indices[0]]
        if len(indices) > 1:
            seconds[prompt] = drawn[indices[1]]
        else:
            asked.append(Query(prompt, indices[0] + 1))
    extra = generate_role(teacher, "teacher", asked, run_seed) if asked else []
    seconds.update({query.prompt: answer for query, answer in zip(asked, extra, strict=True)})
    order = list(by_prompt)
    agree = agreements(rule, [firsts[p] for p in order], [seconds[p] for p in order])
    extra_prompts = {query.prompt for query in asked}
    return {
        prompt: TeacherPair(agreed=same, extra=prompt in extra_prompts)
        for prompt, same in zip(order, agree, strict=True)
    }
