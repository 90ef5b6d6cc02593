"""``assert_indistinguishable``: plays the identification game per bucket and decides it."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pytest_bbi import context
from pytest_bbi.acquisition import PromptHistory, Round, next_queries, schedule
from pytest_bbi.adversaries import Adversary, LabeledPair, resolve
from pytest_bbi.buckets import DEFAULT_BUCKETS, check_bucket, registered_capabilities
from pytest_bbi.budget import Budget
from pytest_bbi.calibration import Calibrate, calibration_report, measure, settings
from pytest_bbi.decision import Cell, decide, is_settled, result_for
from pytest_bbi.errors import BbiWarning, BudgetError, Distinguishable, Inconclusive, PromptError
from pytest_bbi.game import (
    Query,
    Score,
    bind_adversaries,
    certificate,
    generate_role,
    make_game,
    most_confident,
    plan_queries,
    score_adversary,
    tv_terms,
)
from pytest_bbi.models.base import Model, Scorer, TokenScorer
from pytest_bbi.prompts import Prompt, normalize
from pytest_bbi.report import format_verdict
from pytest_bbi.verdict import (
    AdversaryResult,
    BucketResult,
    Calibration,
    Certificate,
    Decision,
    Verdict,
)

UNTAGGED = "all"
"""The bucket name of prompts that carry no capability bucket."""

_MODES = ("detect", "certify")


def _check_arguments(budget: object, epsilon: object, alpha: object, mode: object) -> None:
    if not isinstance(budget, Budget):
        raise BudgetError(
            f"budget={budget!r}: pass a pytest_bbi.Budget, e.g. budget=Budget(queries=400)."
        )
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 <= epsilon < 1:
        raise BudgetError(
            f"epsilon={epsilon!r}: ε is the largest advantage you tolerate and must lie in "
            "[0, 1), e.g. epsilon=0.1."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise BudgetError(
            f"alpha={alpha!r}: α is the error rate the decision may have and must lie in (0, 1), "
            "e.g. alpha=0.05."
        )
    if mode not in _MODES:
        raise BudgetError(
            f"mode={mode!r}: use mode='detect' (fail only on evidence of a difference, for "
            "regression CI) or mode='certify' (pass only on evidence of no difference, for "
            "release gates)."
        )


def _check_model(model: object, role: str) -> Model:
    if not isinstance(model, Model):
        raise BudgetError(
            f"{role}={model!r} is not a model: pass the `{role}` fixture, a model from "
            "pytest_bbi.models.load('hf:...'), or wrap a function with "
            "pytest_bbi.models.from_callable(fn, name=...)."
        )
    return model


def _prompt_items(
    prompts: object, capability: str | None, budget: Budget, run_seed: int
) -> list[Prompt]:
    if prompts is None:
        if capability is None:
            raise PromptError(
                "prompts=None outside a capability: pass the prompts to test on (a list of "
                "strings, a Hypothesis strategy, bbi.prompts.from_jsonl(...)), or mark the test "
                "@pytest.mark.capability(NAME) to use that bucket's default prompts."
            )
        prompts = _default_prompts(capability)
    return normalize(prompts, count=budget.queries, seed=run_seed, default_bucket=capability)


def _default_prompts(capability: str) -> object:
    registered = registered_capabilities()
    if capability in DEFAULT_BUCKETS:
        from pytest_bbi.strategies import bucket_prompts

        return bucket_prompts(capability)
    if registered.get(capability) is not None:
        return registered[capability]
    raise PromptError(
        f"capability {capability!r} has no default prompts: pass prompts=..., or register "
        f"them with pytest_bbi.register_capability({capability!r}, prompts=...)."
    )


def _group_by_bucket(items: Sequence[Prompt], known: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for item in items:
        bucket = UNTAGGED if item.bucket is None else check_bucket(item.bucket, known)
        groups.setdefault(bucket, []).append(item.text)
    return dict(sorted(groups.items()))


def _split_queries(queries: int, buckets: Sequence[str]) -> dict[str, int]:
    """Stratify q equally over the buckets, the remainder to the first ones."""
    share, extra = divmod(queries, len(buckets))
    split = {bucket: share + (index < extra) for index, bucket in enumerate(buckets)}
    if min(split.values()) < 2:
        raise BudgetError(
            f"Budget(queries={queries}) over {len(buckets)} buckets leaves fewer than 2 queries "
            f"for some bucket; give at least {2 * len(buckets)} queries (a few hundred per bucket "
            "for a useful test)."
        )
    return split


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


@dataclass
class _BucketPlay:
    """One bucket's game in progress: its rounds, what they asked, and the scores so far."""

    prompts: list[str]
    plan: list[Query]
    rounds: list[Round]
    history: PromptHistory = field(default_factory=PromptHistory)
    train: list[LabeledPair] = field(default_factory=list)
    scores: dict[str, Score] = field(default_factory=dict)
    queries: int = 0
    settled: bool = False
    tv_terms: list[float] = field(default_factory=list)
    tv_seconds: float = 0.0
    answers: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def planned_pairs(self) -> int:
        """The held-out pairs of the bucket's whole budget."""
        return sum(round_.held_out for round_ in self.rounds)


def _play_round(
    plays: Mapping[str, _BucketPlay],
    round_index: int,
    teacher: Model,
    student: Model,
    adversaries: Sequence[Adversary],
    budget: Budget,
    seconds: float | None,
    run_seed: int,
    scorers: tuple[Scorer, Scorer] | None,
    keep_answers: bool,
) -> float:
    """Generate one round's pairs for every bucket in ``plays`` and score each adversary on them.

    The adversaries fit on every training pair the bucket has so far and are scored on the
    round's new held-out pairs only; each adversary's time budget is shared by all its rounds in
    the bucket, and one that runs out keeps the counts of its finished rounds and plays no more.
    With ``scorers``, the teacher's completions are also scored under both models, for the
    white-box certificate. With ``keep_answers``, every (prompt, teacher answer, student answer)
    is kept for the calibration report. Returns the wall time spent generating.
    """
    asked = {
        bucket: next_queries(
            budget.acquisition,
            play.prompts,
            play.plan,
            play.rounds[round_index].queries,
            play.history,
            run_seed,
            bucket,
            round_index,
        )
        for bucket, play in plays.items()
    }
    every_query = [query for queries in asked.values() for query in queries]
    started = time.perf_counter()
    teacher_outputs = iter(generate_role(teacher, "teacher", every_query, run_seed))
    student_outputs = iter(generate_role(student, "student", every_query, run_seed))
    generation_seconds = time.perf_counter() - started
    for bucket, queries in asked.items():
        play = plays[bucket]
        bucket_teacher = [next(teacher_outputs) for _ in queries]
        bucket_student = [next(student_outputs) for _ in queries]
        if keep_answers:
            play.answers += [
                (query.prompt, teacher_answer, student_answer)
                for query, teacher_answer, student_answer in zip(
                    queries, bucket_teacher, bucket_student, strict=True
                )
            ]
        if scorers is not None:
            scoring = time.perf_counter()
            play.tv_terms += tv_terms(
                *scorers, (teacher.name, student.name), queries, bucket_teacher
            )
            play.tv_seconds += time.perf_counter() - scoring
        game = make_game(
            queries,
            bucket_teacher,
            bucket_student,
            play.rounds[round_index].train,
            run_seed,
            bucket,
            round_index,
        )
        play.history.record_queries(queries)
        play.queries += len(queries)
        play.train += game.train
        game = replace(game, train=list(play.train))
        for adversary in adversaries:
            earlier = play.scores.get(adversary.name)
            if earlier is not None and earlier.timed_out:
                continue
            spent = 0.0 if earlier is None else earlier.seconds
            remaining = None if seconds is None else max(0.0, seconds - spent)
            score = score_adversary(adversary, game, remaining, run_seed, bucket, round_index)
            if not score.timed_out:
                play.history.record_evidence(
                    [pair.prompt for pair in game.held_out], score.evidence
                )
            play.scores[adversary.name] = score if earlier is None else earlier.then(score)
    return generation_seconds


def _cells(
    plays: Mapping[str, _BucketPlay],
    adversaries: Sequence[Adversary],
    epsilons: Mapping[str, float],
) -> list[Cell]:
    return [
        Cell(
            bucket,
            adversary.name,
            play.scores[adversary.name],
            epsilons[bucket],
            play.planned_pairs,
        )
        for bucket, play in plays.items()
        for adversary in adversaries
    ]


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


def _calibrations(
    rule: Calibrate, student: TokenScorer, student_name: str, plays: Mapping[str, _BucketPlay]
) -> tuple[dict[str, Calibration], Calibration | None]:
    """The calibration report per bucket, and over all of them.

    The student's confidences and the agreements are measured in one pass over every bucket's
    answers; each bucket report's time is its share of that pass.
    """
    rows = [row for play in plays.values() for row in play.answers]
    confidence, agreed, seconds = measure(rule, student, student_name, rows)
    per_bucket: dict[str, Calibration] = {}
    start = 0
    for bucket, play in plays.items():
        end = start + len(play.answers)
        report = calibration_report(
            confidence[start:end], agreed[start:end], rule, seconds * len(play.answers) / len(rows)
        )
        if report is not None:
            per_bucket[bucket] = report
        start = end
    return per_bucket, calibration_report(confidence, agreed, rule, seconds)


def _with_certificates(
    decision: Decision, buckets: dict[str, BucketResult], mode: str
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


def assert_indistinguishable(
    teacher: Model,
    student: Model,
    prompts: object = None,
    *,
    budget: Budget,
    epsilon: float,
    alpha: float = 0.05,
    mode: Literal["detect", "certify"] = "detect",
    capability: str | None = None,
    seed: int | None = None,
    calibrate: bool | Calibrate = False,
) -> Verdict:
    """Assert that no adversary in the budget tells ``student`` from ``teacher`` beyond ε.

    Each of the ``budget.queries`` queries sends one prompt to each model. The queries are
    stratified equally over the prompts' capability buckets; in each bucket the first part of
    the queries trains the adversaries, and on every held-out pair, shown in a random order,
    each adversary names the teacher. Its advantage is 2·accuracy − 1. The decision is made over
    every (bucket, adversary) cell at once.

    Args:
        teacher: the reference model.
        student: the model under test.
        prompts: the prompt distribution D: an iterable of strings or
            :class:`~pytest_bbi.prompts.Prompt` (tagged with a bucket), a Hypothesis strategy
            (drawn deterministically from the run seed), a mapping bucket → prompts or strategy,
            or ``bbi.prompts.from_jsonl(...)``. ``None`` inside a capability uses that bucket's
            default strategy. Short lists are cycled with fresh samples.
        budget: q queries, t seconds of adversary compute, the adversary class 𝔸, and how the
            queries are spent: in one fixed-n round (default) or, with ``sequential=True``, in
            growing rounds that stop once the decision is settled (see :class:`Budget`).
        epsilon: ε in [0, 1), the largest advantage tolerated (ini ``bbi_bucket_epsilon`` may
            set it per bucket).
        alpha: α in (0, 1), the error rate the decision may have (ini ``bbi_bucket_alpha`` may
            lower it per bucket; the strictest α of the buckets involved applies).
        mode: ``"detect"`` fails when some adversary's advantage is shown to exceed ε (exact
            binomial tests, Holm-corrected): if every true advantage is ≤ ε, it fails with
            probability ≤ α. ``"certify"`` passes only when every adversary's upper bound is ≤ ε
            (Clopper–Pearson, Bonferroni), and otherwise fails as distinguishable or
            inconclusive, with an estimate of the queries that would decide. In a sequential game
            both modes use anytime-valid confidence sequences (Bonferroni over the cells)
            instead, so stopping early keeps the same guarantees.
        capability: the bucket of untagged prompts; defaults to the test's ``capability``
            marker.
        seed: the run seed; defaults to the session's ``--bbi-seed``.
        calibrate: ``True`` (default settings) or a :class:`~pytest_bbi.Calibrate` adds the
            student's calibration report to the verdict, per bucket and over all: its
            confidence (mean token log-probability of its answer) against its agreement with
            the teacher's answer to the same prompt, and the confidence threshold below which
            a deployment should fall back to the teacher. It needs a student that implements
            :class:`~pytest_bbi.models.TokenScorer` (``hf:`` models do) and never changes the
            decision.

    Returns:
        The verdict, when the assertion passes.

    Raises:
        Distinguishable: when the decision fails; it carries the verdict. Its subclass
            ``Inconclusive`` means certify ran out of budget, or every adversary ran out of time.
        BbiError: for bad arguments, prompts, models or adversaries; the message says the fix.
    """
    __tracebackhide__ = True
    _check_arguments(budget, epsilon, alpha, mode)
    teacher = _check_model(teacher, "teacher")
    student = _check_model(student, "student")
    calibration_rule = settings(calibrate)
    if calibration_rule is not None and not isinstance(student, TokenScorer):
        raise BudgetError(
            f"calibrate=...: the student {student.name!r} cannot report token log-probabilities "
            "(its confidence), so it has no calibration report. hf: models can; a python: "
            "model can implement token_log_probs(prompts, completions) (see "
            "pytest_bbi.models.TokenScorer); or drop calibrate=."
        )
    test_context = context.current()
    known = (*test_context.buckets, *registered_capabilities())
    capability = capability if capability is not None else test_context.capability
    if capability is not None:
        check_bucket(capability, known)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BudgetError(f"seed={seed!r}: the seed must be an int (or None for --bbi-seed).")
    run_seed = test_context.seed if seed is None else seed
    groups = _group_by_bucket(_prompt_items(prompts, capability, budget, run_seed), known)
    split = _split_queries(budget.queries, list(groups))
    epsilons = {b: test_context.bucket_epsilon.get(b, float(epsilon)) for b in groups}
    alpha = min(
        [
            float(alpha),
            *(test_context.bucket_alpha[b] for b in groups if b in test_context.bucket_alpha),
        ]
    )
    scorers: tuple[Scorer, Scorer] | None = (
        (teacher, student) if isinstance(teacher, Scorer) and isinstance(student, Scorer) else None
    )
    white_box = scorers is not None
    adversaries, skipped = bind_adversaries(
        resolve(budget.adversaries, white_box=white_box), teacher, student, run_seed
    )

    # The certificate counts towards certify decisions only in a fixed-n game: its bound is a
    # fixed-n bound, and a sequential game stops at a time that depends on the same samples.
    # When it counts, α is split: half bounds the adversaries, half the certificates, so that
    # passing by either route keeps the error rate at α.
    certificate_counts = white_box and mode == "certify" and not budget.sequential
    certificate_alpha = alpha / 2 if certificate_counts else alpha
    adversary_alpha = alpha / 2 if certificate_counts else alpha
    plays = {
        bucket: _BucketPlay(
            prompts=groups[bucket],
            plan=plan_queries(groups[bucket], split[bucket], run_seed, bucket),
            rounds=schedule(split[bucket], budget.train_fraction, sequential=budget.sequential),
        )
        for bucket in groups
    }
    seconds = None if budget.seconds is None else budget.seconds / len(groups)
    generation_seconds = 0.0
    rounds_played = 0
    while True:
        active = {
            bucket: play
            for bucket, play in plays.items()
            if not play.settled and rounds_played < len(play.rounds)
        }
        if not active:
            break
        generation_seconds += _play_round(
            active,
            rounds_played,
            teacher,
            student,
            adversaries,
            budget,
            seconds,
            run_seed,
            scorers,
            keep_answers=calibration_rule is not None,
        )
        rounds_played += 1
        if budget.sequential:
            cells = _cells(plays, adversaries, epsilons)
            decision, results, _ = decide(
                cells,
                alpha=adversary_alpha,
                mode=mode,
                train_fraction=budget.train_fraction,
                sequential=True,
            )
            if decision == "distinguishable":
                break
            paired = list(zip(cells, results, strict=True))
            for bucket, play in plays.items():
                play.settled = is_settled([(c, r) for c, r in paired if c.bucket == bucket])
    cells = _cells(plays, adversaries, epsilons)
    decision, results, per_bucket_to_decide = decide(
        cells,
        alpha=adversary_alpha,
        mode=mode,
        train_fraction=budget.train_fraction,
        sequential=budget.sequential,
    )
    paired = list(zip(cells, results, strict=True))
    bounds = {
        bucket: certificate(
            play.tv_terms, play.queries, certificate_alpha / len(groups), play.tv_seconds
        )
        for bucket, play in plays.items()
        if white_box
    }
    calibrations, overall_calibration = (
        ({}, None)
        if calibration_rule is None
        else _calibrations(calibration_rule, student, student.name, plays)  # type: ignore[arg-type]
    )
    buckets = {
        bucket: replace(
            _bucket_result(
                bucket,
                [(c, r) for c, r in paired if c.bucket == bucket],
                plays[bucket].queries,
                mode,
                bounds.get(bucket),
                certificate_counts,
            ),
            calibration=calibrations.get(bucket),
        )
        for bucket in groups
    }
    decision, certified = _with_certificates(decision, buckets, mode)
    if certified:
        per_bucket_to_decide = None
    if len(groups) == 1:
        per_adversary = dict(next(iter(buckets.values())).adversaries)
    else:
        per_adversary = {
            a.name: _pooled(
                a.name,
                [(c, r) for c, r in paired if c.adversary == a.name],
                float(epsilon),
                adversary_alpha / len(cells),
                budget.sequential,
            )
            for a in adversaries
        }
    verdict = Verdict(
        passed=decision in ("indistinguishable", "certified"),
        decision=decision,
        mode=mode,
        epsilon=float(epsilon),
        alpha=alpha,
        advantage=max(r.advantage for r in results),
        lower=max(r.lower for r in results),
        upper=max(r.upper for r in results),
        queries=sum(play.queries for play in plays.values()),
        seconds=sum(r.seconds for r in results),
        generation_seconds=generation_seconds,
        adversaries=per_adversary,
        buckets=buckets,
        seed=run_seed,
        capability=next(iter(groups))
        if len(groups) == 1 and UNTAGGED not in groups
        else capability,
        queries_to_decide=None
        if per_bucket_to_decide is None
        else per_bucket_to_decide * len(groups),
        budget_queries=budget.queries,
        sequential=budget.sequential,
        acquisition=budget.acquisition,
        rounds=rounds_played,
        certificate=certificate(
            [term for play in plays.values() for term in play.tv_terms],
            budget.queries,
            certificate_alpha,
            sum(play.tv_seconds for play in plays.values()),
        )
        if white_box
        else None,
        skipped=skipped,
        calibration=overall_calibration,
    )
    test_context.record(verdict)
    for name, reason in skipped.items():
        warnings.warn(f"adversary {name!r} did not play: {reason}.", BbiWarning, stacklevel=2)
    for cell, result in paired:
        if result.timed_out:
            warnings.warn(
                f"adversary {result.name!r} ran out of its {seconds}s budget in bucket "
                f"{cell.bucket!r} and was scored on {result.total} held-out pairs only; raise "
                "Budget(seconds=...) so it counts.",
                BbiWarning,
                stacklevel=2,
            )
    if decision == "inconclusive":
        raise Inconclusive(format_verdict(verdict, teacher.name, student.name), verdict)
    if not verdict.passed:
        raise Distinguishable(format_verdict(verdict, teacher.name, student.name), verdict)
    return verdict
