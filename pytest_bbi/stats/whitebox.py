"""The white-box certificate: total-variation terms and the advantage bounds they give."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_bbi.stats._checks import check_probability


def tv_terms(teacher_log_probs: Sequence[float], student_log_probs: Sequence[float]) -> list[float]:
    """Per-sample terms (1 − p_S(y)/p_T(y))₊ of the total variation, for y drawn from the teacher.

    For y ~ T(·|x) the term has mean E_{y~T}[(1 − p_S(y)/p_T(y))₊] = TV(T(·|x), S(·|x)), so the
    average of the terms over queries estimates the mean per-query total variation without
    importance weights. Each term lies in [0, 1].

    Args:
        teacher_log_probs: log p_T(y) of each teacher sample (finite: the teacher drew it).
        student_log_probs: log p_S(y) of the same samples (``-inf`` where S cannot produce y).

    Returns:
        One term in [0, 1] per sample.

    Raises:
        ValueError: On different lengths, a non-finite teacher log-probability or a NaN.
    """
    if len(teacher_log_probs) != len(student_log_probs):
        raise ValueError(
            f"got {len(teacher_log_probs)} teacher and {len(student_log_probs)} student "
            "log-probabilities; score the same samples under both models"
        )
    terms: list[float] = []
    for log_t, log_s in zip(teacher_log_probs, student_log_probs, strict=True):
        if not math.isfinite(log_t) or math.isnan(log_s):
            raise ValueError(
                f"a teacher sample has log p_T={log_t!r}, log p_S={log_s!r}: the teacher's own "
                "sample must have a finite log-probability and neither may be NaN"
            )
        terms.append(max(0.0, -math.expm1(min(log_s - log_t, 0.0))))
    return terms


def pairwise_tv_terms(
    teacher_on_teacher: Sequence[float],
    student_on_teacher: Sequence[float],
    teacher_on_student: Sequence[float],
    student_on_student: Sequence[float],
) -> list[float]:
    """Per-pair terms whose mean is the optimal advantage in the pairwise game, for the certificate.

    A held-out pair shows a ~ T(·|x) and b ~ S(·|x) in random order, so the adversary tells
    P = T⊗S from Q = S⊗T on the ordered pair (a, b), and the best any adversary can do is
    advantage TV(P, Q) = E_P[(1 − Q(a, b)/P(a, b))₊] with Q/P = S(a)·T(b) / (T(a)·S(b)). So the
    term (1 − S(a)T(b)/(T(a)S(b)))₊ ∈ [0, 1] has mean TV(T⊗S, S⊗T) given x, and averaged over
    prompts x ~ D, the optimal pairwise advantage E_x TV(T⊗S, S⊗T). This is the exact quantity
    the game measures; the older route through the single-sample total variation δ̄,
    1 − (1 − δ̄)² (:func:`queries_bound_from_tv` with q = 2: a pair is two samples), only bounds
    it and is up to about twice as large for small differences. An upper confidence bound on the
    mean of these terms (:func:`~pytest_bbi.stats.mean_upper_bound` for independent pairs, or
    :func:`~pytest_bbi.stats.betting_upper_bound` for pairs collected sequentially or under
    importance weights) bounds the advantage of every adversary at once.

    Args:
        teacher_on_teacher: log T(a) of each teacher sample a (finite: the teacher drew it).
        student_on_teacher: log S(a) of the same samples (``-inf`` where S cannot produce a).
        teacher_on_student: log T(b) of each student sample b (``-inf`` where T cannot).
        student_on_student: log S(b) of the same student samples (finite: the student drew it).

    Returns:
        One term in [0, 1] per pair.

    Raises:
        ValueError: On different lengths, a non-finite log-probability of a model's own sample,
            or a NaN.
    """
    lengths = {
        len(teacher_on_teacher),
        len(student_on_teacher),
        len(teacher_on_student),
        len(student_on_student),
    }
    if len(lengths) != 1:
        raise ValueError(
            "the four log-probability lists have different lengths "
            f"({len(teacher_on_teacher)}, {len(student_on_teacher)}, {len(teacher_on_student)}, "
            f"{len(student_on_student)}); score each pair's two samples under both models"
        )
    terms: list[float] = []
    for log_ta, log_sa, log_tb, log_sb in zip(
        teacher_on_teacher, student_on_teacher, teacher_on_student, student_on_student, strict=True
    ):
        if not (math.isfinite(log_ta) and math.isfinite(log_sb)):
            raise ValueError(
                f"a pair has log T(a)={log_ta!r}, log S(b)={log_sb!r}: each model's own sample "
                "must have a finite log-probability under it"
            )
        if math.isnan(log_sa) or math.isnan(log_tb) or math.inf in (log_sa, log_tb):
            raise ValueError(
                f"a pair has log S(a)={log_sa!r}, log T(b)={log_tb!r}: a log-probability is a "
                "number or -inf, never NaN or +inf"
            )
        log_ratio = (log_sa + log_tb) - (log_ta + log_sb)
        terms.append(max(0.0, -math.expm1(min(log_ratio, 0.0))))
    return terms


def queries_bound_from_tv(tv: float, queries: int) -> float:
    """The most advantage any adversary can have from q completions of one model: 1 − (1 − δ)^q.

    Telling T from S with q queries (fresh prompts from D) is telling T^q from S^q, and
    TV(T^q, S^q) ≤ 1 − (1 − δ)^q by the same coupling; with δ the mean per-query total variation,
    concavity gives the bound for random prompts.

    Args:
        tv: a (bound on the mean) per-query total variation δ, in [0, 1].
        queries: q, at least 0.

    Returns:
        1 − (1 − δ)^q, in [0, 1].

    Raises:
        ValueError: If ``tv`` is outside [0, 1] or ``queries`` is negative.
    """
    tv = check_probability(tv, "tv")
    if queries < 0:
        raise ValueError(f"queries must be >= 0, got {queries!r}")
    return 1.0 - (1.0 - tv) ** queries
