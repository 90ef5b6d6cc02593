"""Human-readable renderings of verdicts: the failure message a user reads."""

from __future__ import annotations

from pytest_bbi.verdict import AdversaryResult, Verdict

_EXCERPT = 160


def _excerpt(text: str) -> str:
    shown = text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"
    return repr(shown)


def _headline(verdict: Verdict, teacher: str, student: str) -> str:
    where = f" on capability {verdict.capability!r}" if verdict.capability else ""
    if verdict.decision == "distinguishable":
        return (
            f"student {student!r} is distinguishable from teacher {teacher!r}{where}: "
            f"an adversary's advantage exceeds ε={verdict.epsilon:g}"
        )
    if verdict.decision == "inconclusive" and all(
        result.timed_out for result in verdict.adversaries.values()
    ):
        return (
            f"nothing was tested for student {student!r} against teacher {teacher!r}{where}: "
            "every adversary ran out of its time budget"
        )
    if verdict.decision == "inconclusive":
        decide = (
            f"about {verdict.queries_to_decide} queries would likely decide"
            if verdict.queries_to_decide
            else "raise the budget (queries or seconds) to decide"
        )
        return (
            f"cannot certify student {student!r} against teacher {teacher!r}{where}: some "
            f"advantage's upper bound is above ε={verdict.epsilon:g} ({decide})"
        )
    return f"student {student!r} is {verdict.decision} from teacher {teacher!r}{where}"


_COLUMNS = "  {:<14} {:>9}  {:<18} {:>11}  {:>9}  {:>8}  {}"


def _row(result: AdversaryResult) -> str:
    status = (
        "timed out"
        if result.timed_out
        else ("rejects H0" if result.rejected else "no evidence above ε")
    )
    return _COLUMNS.format(
        result.name,
        f"{result.advantage:+.3f}",
        f"[{result.lower:+.3f}, {result.upper:+.3f}]",
        f"{result.correct}/{result.total}",
        f"{result.p_value:.3g}",
        f"{result.seconds:.2f}s",
        status,
    )


def format_verdict(verdict: Verdict, teacher: str, student: str) -> str:
    """Render a verdict as the multi-line message of a failed assertion.

    Args:
        verdict: the verdict.
        teacher: the teacher's name.
        student: the student's name.

    Returns:
        The headline, the decision's parameters and budget use, one row per adversary
        (advantage, interval, k/n, p-value, seconds) and each adversary's most confident pairs.
    """
    lines = [
        _headline(verdict, teacher, student),
        f"mode={verdict.mode} ε={verdict.epsilon:g} α={verdict.alpha:g} seed={verdict.seed}; "
        f"spent {verdict.queries} queries, {verdict.seconds:.2f}s of adversary compute "
        f"(+{verdict.generation_seconds:.2f}s generation)",
        _COLUMNS.format(
            "adversary", "advantage", "[lower, upper]", "correct/n", "p-value", "time", "status"
        ),
        *(_row(result) for result in verdict.adversaries.values()),
    ]
    for result in verdict.adversaries.values():
        if result.timed_out:
            lines.append(
                f"{result.name}: ran out of its time budget before deciding; raise "
                "Budget(seconds=...) to score it."
            )
            continue
        if not result.examples:
            continue
        lines.append(f"{result.name}: the held-out pairs it was most sure of")
        for rank, example in enumerate(result.examples, start=1):
            call = "right" if example.correct else "wrong"
            lines += [
                f"  {rank}. prompt:  {_excerpt(example.prompt)}",
                f"     teacher: {_excerpt(example.teacher)}",
                f"     student: {_excerpt(example.student)}",
                f"     (confidence {0.5 + example.confidence:.2f}, named the teacher {call})",
            ]
    lines.append(f"replay exactly with --bbi-seed={verdict.seed}")
    return "\n".join(lines)
