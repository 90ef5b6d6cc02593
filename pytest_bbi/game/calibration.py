"""The student's calibration report: confidence against agreement, and a fallback threshold."""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_bbi.errors import BudgetError
from pytest_bbi.models.base import TokenScorer, check_token_log_probs
from pytest_bbi.stats import clopper_pearson_lower
from pytest_bbi.verdict import Calibration, ConfidenceBin, OperatingPoint

AgreementRule = Literal["embedding", "exact"] | Callable[[str, str], bool]
"""How a student answer is judged to agree with the teacher's answer to the same prompt."""

_THRESHOLDS_TRIED = 10
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Calibrate:
    """Ask :func:`~pytest_bbi.assert_indistinguishable` for the student's calibration report.

    The report pairs each query's student answer with the teacher's answer to the same prompt,
    scores the student's confidence (its mean token log-probability of its own answer, which
    needs a student that implements :class:`~pytest_bbi.models.TokenScorer`, as ``hf:`` models
    do) and whether the answers agree, and recommends the lowest confidence threshold at which
    the answers the student would serve agree with the teacher's at a rate of at least
    ``target``, shown with confidence 1 − ``alpha``. Below it, a deployment should fall back to
    the teacher.

    Attributes:
        target: the agreement, in (0, 1], that the served answers must reach.
        agreement: ``"embedding"`` (the answers' MiniLM sentence embeddings have cosine
            similarity ≥ ``similarity``), ``"exact"`` (equal after trimming, collapsing
            whitespace and case-folding), or a function ``f(teacher, student) -> bool``.
        similarity: the least cosine similarity that counts as agreement, for ``"embedding"``.
        alpha: the error level of the threshold's guarantee, in (0, 1).
        bins: how many equal-count confidence bins the report shows, at least 1.

    Raises:
        BudgetError: when a setting is out of range.
    """

    target: float = 0.9
    agreement: AgreementRule = "embedding"
    similarity: float = 0.8
    alpha: float = 0.05
    bins: int = 5

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
        from pytest_bbi.adversaries.encoder import load_encoder

        encoder = load_encoder()
        teacher_vectors, student_vectors = (
            encoder.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
            for texts in (teacher_answers, student_answers)
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


def _operating_points(
    ordered: Sequence[tuple[float, bool]], alpha: float
) -> tuple[OperatingPoint, ...]:
    """The thresholds tried: the confidences that serve 100%, 90%, …, 10% of the queries.

    Each point's lower bound is a one-sided Clopper–Pearson bound at α divided by the number of
    points (Bonferroni), so all of them hold at once with confidence 1 − α, whichever point is
    then recommended (the selection with guaranteed risk of Geifman and El-Yaniv, 2017).
    """
    total = len(ordered)
    thresholds = sorted(
        {
            ordered[total - max(1, math.ceil(total * level / _THRESHOLDS_TRIED))][0]
            for level in range(_THRESHOLDS_TRIED, 0, -1)
        }
    )
    points = []
    for threshold in thresholds:
        served = [agreed for confidence, agreed in ordered if confidence >= threshold]
        agreeing = sum(served)
        points.append(
            OperatingPoint(
                threshold=threshold,
                coverage=len(served) / total,
                served=len(served),
                agreeing=agreeing,
                agreement=agreeing / len(served),
                lower=clopper_pearson_lower(agreeing, len(served), alpha / len(thresholds)),
            )
        )
    return tuple(points)


def calibration_report(
    confidence: Sequence[float], agreed: Sequence[bool], rule: Calibrate, seconds: float = 0.0
) -> Calibration | None:
    """The calibration report of one set of (confidence, agreed) measurements.

    The thresholds tried serve the 100%, 90%, …, 10% most confident queries. The recommendation
    is the lowest one (the one serving most) whose served answers' agreement has a lower
    confidence bound of at least ``rule.target``, the bounds Bonferroni-corrected over the
    thresholds tried: the chance of recommending a threshold whose served answers agree below
    the target on fresh prompts from the same distribution is at most ``rule.alpha`` (up to the
    thresholds being the sample's own quantiles, as in selection with guaranteed risk).

    Args:
        confidence: the student's confidence per query.
        agreed: whether the student agreed with the teacher, per query.
        rule: the settings (target, α, bins, the rule's name).
        seconds: the time spent measuring, reported.

    Returns:
        The report, or ``None`` when there are no measurements.
    """
    if len(confidence) != len(agreed):
        raise ValueError(f"{len(confidence)} confidences but {len(agreed)} agreements.")
    if not confidence:
        return None
    ordered = sorted(zip(confidence, agreed, strict=True), key=lambda pair: pair[0])
    points = _operating_points(ordered, rule.alpha)
    chosen = next((point for point in points if point.lower >= rule.target), None)
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
    )


def measure(
    rule: Calibrate,
    student: TokenScorer,
    student_name: str,
    rows: Sequence[tuple[str, str, str]],
) -> tuple[list[float], list[bool], float]:
    """Score every (prompt, teacher answer, student answer) row in one pass.

    Returns:
        The student's confidences, the agreements, and the seconds spent.
    """
    started = time.perf_counter()
    prompts = [prompt for prompt, _, _ in rows]
    teacher_answers = [teacher for _, teacher, _ in rows]
    student_answers = [student_answer for _, _, student_answer in rows]
    confidence = confidences(student, student_name, prompts, student_answers)
    agreed = agreements(rule, teacher_answers, student_answers)
    return confidence, agreed, time.perf_counter() - started
