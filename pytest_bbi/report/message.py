"""Human-readable renderings of verdicts: the failure message a user reads."""

from __future__ import annotations

from pytest_bbi.report.document import detectable_text, power_note
from pytest_bbi.text import encodable
from pytest_bbi.verdict import (
    AdversaryResult,
    BucketResult,
    Certificate,
    Verdict,
    cell_status,
    population_words,
)

_EXCERPT = 160
_COLUMNS = "  {:<14} {:<14} {:>9}  {:<18} {:>11}  {:>9}  {:>8}  {}"


def _excerpt(text: str) -> str:
    shown = text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"
    return repr(shown)


def _where(buckets: list[str]) -> str:
    named = [bucket for bucket in buckets if bucket != "all"]
    if not named:
        return ""
    if len(named) == 1:
        return f" on capability {named[0]!r}"
    return f" on capabilities {', '.join(repr(b) for b in named)}"


def _headline(verdict: Verdict, teacher: str, student: str) -> str:
    pair = f"student {student!r}", f"teacher {teacher!r}"
    if verdict.decision == "distinguishable":
        where = _where(
            [
                name
                for name, bucket in verdict.buckets.items()
                if any(result.rejected for result in bucket.adversaries.values())
            ]
        )
        return (
            f"{pair[0]} is distinguishable from {pair[1]}{where}: an adversary's advantage "
            f"exceeds ε={verdict.epsilon:g}"
        )
    where = _where(list(verdict.buckets))
    overran = [
        f"{result.name} ({bucket.name})"
        for bucket in verdict.buckets.values()
        for result in bucket.adversaries.values()
        if result.timed_out
    ]
    if verdict.decision == "inconclusive" and overran:
        return (
            f"no decision for {pair[0]} against {pair[1]}{where}: {', '.join(overran)} overran "
            "the safety limit Budget(seconds=...), so the adversary class was not played in full"
        )
    if verdict.decision == "inconclusive":
        decide = (
            f"about {verdict.queries_to_decide} queries would likely decide"
            if verdict.queries_to_decide
            else "raise the budget (queries or seconds) to decide"
        )
        return (
            f"cannot certify {pair[0]} against {pair[1]}{where}: some advantage is not shown "
            f"to be within ε ({decide})"
        )
    if verdict.decision == "certified":
        return f"{pair[0]} is certified within ε={verdict.epsilon:g} of {pair[1]}{where}"
    return (
        f"no adversary detected {pair[0]} against {pair[1]}{where} (undetected: not shown "
        "to be close)"
    )


def _row(bucket: BucketResult, result: AdversaryResult) -> str:
    status = cell_status(timed_out=result.timed_out, rejected=result.rejected, within=result.within)
    return _COLUMNS.format(
        bucket.name,
        result.name,
        f"{result.estimated:+.3f}",
        f"[{result.lower:+.3f}, {result.upper:+.3f}]",
        f"{result.correct}/{result.total}",
        f"{result.p_value:.3g}",
        f"{result.seconds:.2f}s",
        status,
    )


def _examples(bucket: BucketResult, result: AdversaryResult) -> list[str]:
    if result.timed_out:
        reason = f" ({result.overrun})" if result.overrun else ""
        return [
            f"{result.name} ({bucket.name}): overran its safety limit{reason} and was not "
            "scored; raise Budget(seconds=...) (its work cap, not the clock, bounds its answer)."
        ]
    lines = []
    if result.details:
        counts = ", ".join(f"{key}={value}" for key, value in result.details.items())
        lines.append(f"{result.name} ({bucket.name}): {counts}")
    if not result.examples:
        return lines
    lines.append(f"{result.name} ({bucket.name}): the held-out pairs it was most sure of")
    for rank, example in enumerate(result.examples, start=1):
        call = "right" if example.correct else "wrong: it took the student for the teacher"
        lines += [
            f"  {rank}. prompt:  {_excerpt(example.prompt)}",
            f"     teacher: {_excerpt(example.teacher)}",
            f"     student: {_excerpt(example.student)}",
            f"     (confidence {0.5 + example.confidence:.2f}, named the teacher {call})",
        ]
    return lines


def _queries_spent(verdict: Verdict) -> str:
    if not verdict.sequential:
        return f"{verdict.queries} queries"
    rounds = f"{verdict.rounds} round{'s' if verdict.rounds != 1 else ''}"
    return (
        f"{verdict.queries} of {verdict.budget_queries} queries in {rounds} "
        f"(sequential, {verdict.acquisition} acquisition)"
    )


def power_line(verdict: Verdict) -> str:
    """What the run could have detected, and, for an under-powered pass, what would.

    Args:
        verdict: the verdict.

    Returns:
        One line, e.g. "detectable advantage: 0.594 (power 0.8 at α=0.05, 3 cells); …".
    """
    cells = sum(len(bucket.adversaries) for bucket in verdict.buckets.values())
    line = (
        f"detectable advantage: {detectable_text(verdict.detectable)} (power 0.8 at "
        f"α={verdict.alpha:g}, {cells} cell{'s' if cells != 1 else ''})"
    )
    note = power_note(verdict.to_dict())
    return line if note is None else f"{line}; {note}"


def _reading(verdict: Verdict) -> str:
    """How to read the advantages: estimates, the population, the fitted adversaries."""
    if verdict.acquisition == "disagreement":
        estimate = "importance-weighted to the prompt list"
    elif verdict.sequential:
        estimate = "median-unbiased after the early stop (k/n is in correct/n)"
    else:
        estimate = "k/n"
    fits = (
        "each adversary fitted once on its training pairs"
        if verdict.frozen
        else "learned adversaries refitted each round"
    )
    return (
        f"population: {population_words(verdict.population, verdict.prompts)}; advantages are "
        f"{estimate}; {fits}"
    )


def _certificate(where: str, bound: Certificate, epsilon: float | None) -> str:
    verdict = ""
    if epsilon is not None:
        verdict = " (≤ ε: certified)" if bound.advantage_upper <= epsilon else " (above ε)"
    return (
        f"white-box certificate ({where}): the best possible adversary's advantage "
        f"{bound.advantage:.3f} ≤ {bound.advantage_upper:.3f} over {bound.samples} pairs scored "
        f"by both models, so no adversary's advantage exceeds it{verdict}; mean per-query TV "
        f"{bound.tv:.3f} ≤ {bound.tv_upper:.3f}, so no adversary's advantage from "
        f"q={bound.queries} queries exceeds {bound.queries_upper:.3f} (confidence "
        f"{1 - bound.alpha:g} each)"
    )


def format_verdict(verdict: Verdict, teacher: str, student: str) -> str:
    r"""Render a verdict as the multi-line message of a failed assertion.

    Args:
        verdict: the verdict.
        teacher: the teacher's name.
        student: the student's name.

    Returns:
        The headline (naming the buckets that gave the student away), the decision's parameters
        and budget use (for a sequential game: queries spent of the budget, and rounds), the
        population and how to read the advantages, the detectable advantage, one row per
        (bucket, adversary) with advantage, interval, k/n, p-value, seconds and the cell's word,
        the adversaries that did not play and why, the white-box certificates, and the most
        confident pairs of the adversaries that matter. Text is valid Unicode whatever the
        models answered: prompts and completions are shown as ``repr`` excerpts, and a lone
        surrogate in any name is written as its ``\udXXX`` escape
        (:func:`pytest_bbi.text.encodable`), so the message survives every terminal, log file
        and the trip from an xdist worker.
    """
    epsilons = sorted({bucket.epsilon for bucket in verdict.buckets.values()})
    lines = [
        _headline(verdict, teacher, student),
        f"mode={verdict.mode} ε={'/'.join(f'{e:g}' for e in epsilons)} α={verdict.alpha:g} "
        f"seed={verdict.seed}; spent {_queries_spent(verdict)}, {verdict.seconds:.2f}s of "
        f"adversary compute (+{verdict.generation_seconds:.2f}s generation)",
        _reading(verdict),
        power_line(verdict),
        _COLUMNS.format(
            "capability",
            "adversary",
            "advantage",
            "[lower, upper]",
            "correct/n",
            "p-value",
            "time",
            "status",
        ),
    ]
    cells = [
        (bucket, result)
        for bucket in verdict.buckets.values()
        for result in bucket.adversaries.values()
    ]
    lines += [_row(bucket, result) for bucket, result in cells]
    lines += [f"{name}: did not play: {reason}" for name, reason in verdict.skipped.items()]
    lines += [
        _certificate(bucket.name, bucket.certificate, bucket.epsilon)
        for bucket in verdict.buckets.values()
        if bucket.certificate is not None
    ]
    if verdict.certificate is not None and len(verdict.buckets) > 1:
        lines.append(_certificate("all buckets", verdict.certificate, None))
    telling = [(b, r) for b, r in cells if r.rejected or r.timed_out] or cells
    for bucket, result in telling:
        lines += _examples(bucket, result)
    lines.append(f"replay exactly with --bbi-seed={verdict.seed}")
    return encodable("\n".join(lines))
