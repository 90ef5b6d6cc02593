"""``assert_indistinguishable``: check, set up, play, decide, then record the verdict or raise."""

from __future__ import annotations

import warnings
from typing import Literal

from pytest_bbi.budget import Budget
from pytest_bbi.errors import BbiWarning, Distinguishable, Inconclusive
from pytest_bbi.game.calibration import Calibrate, rule_for
from pytest_bbi.game.decision import Outcome
from pytest_bbi.game.run import GameRun
from pytest_bbi.game.search import described, search_first
from pytest_bbi.game.setup import check_budget, check_decision, check_model, set_up
from pytest_bbi.models.base import Model
from pytest_bbi.report.message import format_verdict
from pytest_bbi.verdict import Verdict


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

    Each of the ``budget.queries`` queries sends one prompt to each model, stratified equally
    over the prompts' capability buckets. In each bucket the first queries train the
    adversaries; on every held-out pair, shown in a random order, each adversary names the
    teacher, and its advantage is 2·accuracy − 1. The decision is made over every (bucket,
    adversary) cell at once.

    Args:
        teacher: the reference model.
        student: the model under test.
        prompts: the prompt distribution D: strings or :class:`~pytest_bbi.prompts.Prompt`
            (tagged with a bucket), a Hypothesis strategy (drawn from the run seed), a mapping
            bucket → prompts or strategy, or ``bbi.prompts.from_jsonl(...)``. ``None`` inside a
            capability uses that bucket's default strategy. Short lists are cycled.
        budget: q queries, t seconds of adversary compute, the adversary class 𝔸, whether the
            queries are spent in one fixed-n round (default) or in planned rounds that stop
            once the decision is settled (``sequential=True``), how prompts are drawn, and the
            population the verdict speaks for (see :class:`Budget`; :func:`~pytest_bbi.search`).
        epsilon: ε in [0, 1), the largest advantage tolerated (ini ``bbi_bucket_epsilon`` may
            set it per bucket).
        alpha: α in (0, 1), the error rate the decision may have (ini ``bbi_bucket_alpha`` may
            lower it per bucket; the strictest α of the buckets involved applies).
        mode: ``"detect"`` fails when some advantage is shown to exceed ε (Holm's step-down
            over every cell): if every true advantage is ≤ ε, it fails with probability ≤ α.
            A pass is ``"undetected"`` and carries ``detectable``, the smallest advantage the
            run would have found with power 0.8. ``"certify"`` passes only when every cell is
            shown within ε, each at α (an intersection–union test), or a white-box
            certificate bounds every adversary; else it fails, as distinguishable or as
            inconclusive with an estimate of the queries that would decide.
        capability: the bucket of untagged prompts; defaults to the test's ``capability``
            marker.
        seed: the run seed; defaults to the session's ``--bbi-seed``.
        calibrate: ``True`` or a :class:`~pytest_bbi.Calibrate` adds the student's calibration
            report (its confidence against its agreement with the teacher, and the threshold
            below which to fall back to the teacher), per bucket and over all. It needs a
            :class:`~pytest_bbi.models.TokenScorer` student and never changes the decision.

    Returns:
        The verdict, when the assertion passes.

    Raises:
        Distinguishable: the decision failed on evidence of a difference.
        Inconclusive: it failed for want of evidence (certify ran out of budget, or every
            adversary ran out of time). Both are :class:`~pytest_bbi.BehaviorFailure` and
            carry the verdict.
        BbiError: for bad arguments, prompts, models or adversaries; the message says the fix.
    """
    __tracebackhide__ = True
    budget = check_budget(budget)
    check_decision(epsilon, alpha, mode)
    teacher, student = check_model(teacher, "teacher"), check_model(student, "student")
    calibration = rule_for(calibrate, student)
    search, prompts, budget = search_first(
        teacher, student, prompts, budget, capability, seed, mode
    )
    setup = set_up(prompts, budget, capability=capability, seed=seed)
    game = GameRun(setup, teacher, student, budget, mode, epsilon, alpha, calibration)
    game.play()
    verdict = game.verdict(outcome := game.decide())
    setup.context.record(verdict)
    _warn(game, outcome, skipped=setup.context.warn_skipped)
    if not verdict.passed:
        failure = Inconclusive if verdict.decision == "inconclusive" else Distinguishable
        message = format_verdict(verdict, teacher.name, student.name) + described(search)
        raise failure(message, verdict)
    return verdict


def _warn(game: GameRun, outcome: Outcome, *, skipped: bool) -> None:
    """Warn about the adversaries that ran out of time, and those that did not play.

    ``skipped`` is false under pytest, where the plugin warns about those once per session.
    """
    for name, reason in game.skipped.items() if skipped else ():
        warnings.warn(f"adversary {name!r} did not play: {reason}.", BbiWarning, stacklevel=3)
    for cell, result in outcome.cells:
        if result.timed_out:
            reason = f" ({result.overrun})" if result.overrun else ""
            warnings.warn(
                f"adversary {result.name!r} overran its {game.seconds}s safety limit in bucket "
                f"{cell.bucket!r}{reason}; its answer was not used and the run decides nothing "
                "without it; raise Budget(seconds=...).",
                BbiWarning,
                stacklevel=3,
            )
