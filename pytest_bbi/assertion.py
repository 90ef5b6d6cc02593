"""``assert_indistinguishable``: runs the pairwise identification game and decides it."""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_bbi import context, stats
from pytest_bbi.adversaries import (
    Adversary,
    AdversaryTimeout,
    Deadline,
    LabeledPair,
    Trial,
    resolve,
)
from pytest_bbi.buckets import check_bucket
from pytest_bbi.budget import Budget
from pytest_bbi.errors import (
    AdversaryError,
    BbiWarning,
    BudgetError,
    Distinguishable,
    Inconclusive,
    PromptError,
)
from pytest_bbi.models.base import Model, check_completions
from pytest_bbi.report import format_verdict
from pytest_bbi.seeding import derive_seed
from pytest_bbi.verdict import AdversaryResult, Decision, Example, Mode, Verdict

EXAMPLES_PER_ADVERSARY = 3
_MODES = ("detect", "certify")


@dataclass(frozen=True)
class Query:
    """One query of the game: a prompt and how many earlier queries drew the same prompt."""

    prompt: str
    sample_index: int


@dataclass(frozen=True)
class Game:
    """The generated material of one game: training pairs and held-out trials with their truth."""

    train: list[LabeledPair]
    held_out: list[LabeledPair]
    first_is_teacher: list[bool]

    def trials(self) -> list[Trial]:
        """The held-out pairs in their hidden order."""
        return [
            Trial(pair.prompt, pair.teacher, pair.student)
            if teacher_first
            else Trial(pair.prompt, pair.student, pair.teacher)
            for pair, teacher_first in zip(self.held_out, self.first_is_teacher, strict=True)
        ]


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


def _materialize_prompts(prompts: Iterable[str] | None) -> list[str]:
    if prompts is None:
        raise PromptError(
            "prompts=None: pass the prompts to test on, e.g. "
            "assert_indistinguishable(teacher, student, ['Summarize: ...', ...], budget=...)."
        )
    if isinstance(prompts, str):
        raise PromptError(
            "prompts is a single string; pass a list of prompts, e.g. [prompt] for just one."
        )
    try:
        materialized = list(prompts)
    except TypeError as error:
        raise PromptError(
            f"prompts={prompts!r} is not iterable; pass a list of strings."
        ) from error
    if not materialized:
        raise PromptError("prompts is empty; pass at least one prompt.")
    for index, prompt in enumerate(materialized):
        if not isinstance(prompt, str):
            raise PromptError(
                f"prompts[{index}] is {type(prompt).__name__} ({prompt!r:.60}), not a string."
            )
    return materialized


def _check_model(model: object, role: str) -> Model:
    if not isinstance(model, Model):
        raise BudgetError(
            f"{role}={model!r} is not a model: pass the `{role}` fixture, a model from "
            "pytest_bbi.models.load('hf:...'), or wrap a function with "
            "pytest_bbi.models.from_callable(fn, name=...)."
        )
    return model


def plan_queries(prompts: Sequence[str], queries: int, run_seed: int) -> list[Query]:
    """Choose the q queries: prompts in a seeded random order, cycled when q exceeds them.

    Args:
        prompts: the prompt distribution D, as a finite list.
        queries: q.
        run_seed: the run seed.

    Returns:
        q queries; a prompt's k-th appearance has sample index k.
    """
    order = list(range(len(prompts)))
    random.Random(derive_seed(run_seed, "acquisition")).shuffle(order)
    seen: dict[str, int] = {}
    planned: list[Query] = []
    for position in range(queries):
        prompt = prompts[order[position % len(order)]]
        planned.append(Query(prompt, seen.get(prompt, 0)))
        seen[prompt] = seen.get(prompt, 0) + 1
    return planned


def generate_role(model: Model, role: str, queries: Sequence[Query], run_seed: int) -> list[str]:
    """Ask ``model`` every query with the seeds of ``role``.

    Args:
        model: the model.
        role: ``"teacher"`` or ``"student"``; each role gets its own, independent seeds.
        queries: the planned queries.
        run_seed: the run seed.

    Returns:
        One completion per query.
    """
    prompts = [query.prompt for query in queries]
    seeds = [derive_seed(run_seed, role, query.prompt, query.sample_index) for query in queries]
    return check_completions(model.name, prompts, model.generate(prompts, seeds))


def play(
    teacher: Model, student: Model, prompts: Sequence[str], budget: Budget, run_seed: int
) -> Game:
    """Generate the game's pairs and hide the order of each held-out pair with a seeded coin."""
    queries = plan_queries(prompts, budget.queries, run_seed)
    teacher_outputs = generate_role(teacher, "teacher", queries, run_seed)
    student_outputs = generate_role(student, "student", queries, run_seed)
    pairs = [
        LabeledPair(query.prompt, teacher_output, student_output)
        for query, teacher_output, student_output in zip(
            queries, teacher_outputs, student_outputs, strict=True
        )
    ]
    coin = random.Random(derive_seed(run_seed, "order"))
    held_out = pairs[budget.train_queries :]
    return Game(
        train=pairs[: budget.train_queries],
        held_out=held_out,
        first_is_teacher=[coin.random() < 0.5 for _ in held_out],
    )


@dataclass(frozen=True)
class _Score:
    correct: int
    total: int
    seconds: float
    timed_out: bool
    examples: tuple[Example, ...]


def _check_probabilities(adversary: Adversary, answer: object, expected: int) -> list[float]:
    try:
        probabilities = [float(value) for value in answer]  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise AdversaryError(
            f"adversary {adversary.name!r} returned {answer!r:.80}; decide() must return one "
            "probability per trial."
        ) from error
    if len(probabilities) != expected:
        raise AdversaryError(
            f"adversary {adversary.name!r} returned {len(probabilities)} probabilities for "
            f"{expected} trials; decide() must return exactly one per trial."
        )
    if not all(0.0 <= value <= 1.0 for value in probabilities):
        raise AdversaryError(
            f"adversary {adversary.name!r} returned a value outside [0, 1] (or NaN); decide() "
            "returns P(first is the teacher's completion)."
        )
    return probabilities


def score_adversary(adversary: Adversary, game: Game, budget: Budget, run_seed: int) -> _Score:
    """Let one adversary play the game within its time budget and count its correct calls.

    A probability of exactly 0.5 is settled by a seeded coin, so an adversary that cannot
    decide is scored as guessing, which keeps the count Binomial(n, ½) under H0.
    """
    deadline = Deadline(budget.seconds)
    try:
        answer = adversary.decide(game.train, game.trials(), deadline)
    except AdversaryTimeout:
        return _Score(0, 0, deadline.elapsed(), True, ())
    seconds = deadline.elapsed()
    if deadline.expired():
        return _Score(0, 0, seconds, True, ())
    probabilities = _check_probabilities(adversary, answer, len(game.held_out))
    tie_coin = random.Random(derive_seed(run_seed, f"ties:{adversary.name}"))
    correct_flags: list[bool] = []
    for probability, teacher_first in zip(probabilities, game.first_is_teacher, strict=True):
        says_first = tie_coin.random() < 0.5 if probability == 0.5 else probability > 0.5
        correct_flags.append(says_first == teacher_first)
    ranked = sorted(
        range(len(probabilities)), key=lambda index: (-abs(probabilities[index] - 0.5), index)
    )
    examples = tuple(
        Example(
            prompt=game.held_out[index].prompt,
            teacher=game.held_out[index].teacher,
            student=game.held_out[index].student,
            confidence=round(abs(probabilities[index] - 0.5), 6),
            correct=correct_flags[index],
        )
        for index in ranked[:EXAMPLES_PER_ADVERSARY]
    )
    return _Score(sum(correct_flags), len(correct_flags), seconds, False, examples)


def decide(
    scores: dict[str, _Score], *, epsilon: float, alpha: float, mode: Mode, train_fraction: float
) -> tuple[Decision, dict[str, AdversaryResult], int | None]:
    """Turn the adversaries' counts into per-adversary results and the decision.

    Intervals are one-sided Clopper–Pearson bounds at α/m each (Bonferroni over the m
    adversaries), so the m upper bounds hold together with confidence 1 − α, and so do the m
    lower bounds. ``detect`` rejects
    H0: advantage ≤ ε by exact binomial tests with Holm's correction; ``certify`` passes only when
    every upper bound is ≤ ε. When every adversary ran out of time nothing was tested, and
    either mode is inconclusive.
    """
    threshold = stats.accuracy_threshold(epsilon)
    per_adversary_alpha = alpha / len(scores)
    p_values = [stats.binomial_p_value(s.correct, s.total, threshold) for s in scores.values()]
    if mode == "detect":
        rejections = stats.holm(p_values, alpha)
    else:
        rejections = [
            s.total > 0
            and stats.to_advantage(
                stats.clopper_pearson_lower(s.correct, s.total, per_adversary_alpha)
            )
            > epsilon
            for s in scores.values()
        ]
    results: dict[str, AdversaryResult] = {}
    for (name, score), p_value, rejected in zip(scores.items(), p_values, rejections, strict=True):
        k, n = score.correct, score.total
        results[name] = AdversaryResult(
            name=name,
            correct=k,
            total=n,
            advantage=stats.to_advantage(k / n) if n else 0.0,
            lower=stats.to_advantage(stats.clopper_pearson_lower(k, n, per_adversary_alpha)),
            upper=stats.to_advantage(stats.clopper_pearson_upper(k, n, per_adversary_alpha)),
            p_value=p_value,
            seconds=score.seconds,
            timed_out=score.timed_out,
            rejected=rejected,
            examples=score.examples,
        )
    if any(rejections):
        return "distinguishable", results, None
    if all(result.timed_out for result in results.values()):
        return "inconclusive", results, None
    if mode == "detect":
        return "indistinguishable", results, None
    if all(result.upper <= epsilon for result in results.values()):
        return "certified", results, None
    pairs_needed = [
        stats.held_out_pairs_to_decide(r.correct, r.total, epsilon, per_adversary_alpha)
        if r.total
        else None
        for r in results.values()
        if r.upper > epsilon
    ]
    if any(pairs is None for pairs in pairs_needed):
        return "inconclusive", results, None
    most = max(pairs for pairs in pairs_needed if pairs is not None)
    return "inconclusive", results, math.ceil(most / (1 - train_fraction))


def assert_indistinguishable(
    teacher: Model,
    student: Model,
    prompts: Iterable[str] | None = None,
    *,
    budget: Budget,
    epsilon: float,
    alpha: float = 0.05,
    mode: Literal["detect", "certify"] = "detect",
    capability: str | None = None,
    seed: int | None = None,
) -> Verdict:
    """Assert that no adversary in the budget tells ``student`` from ``teacher`` beyond ε.

    Each of the ``budget.queries`` queries sends one prompt to each model. The first part of
    the queries trains the adversaries; on every held-out pair, shown in a random order, each
    adversary names the teacher. Its advantage is 2·accuracy − 1.

    Args:
        teacher: the reference model.
        student: the model under test.
        prompts: the prompt distribution D, as an iterable of strings (cycled with fresh samples
            when shorter than q).
        budget: q queries, t seconds of adversary compute, and the adversary class 𝔸.
        epsilon: ε in [0, 1), the largest advantage tolerated.
        alpha: α in (0, 1), the error rate the decision may have.
        mode: ``"detect"`` fails when some adversary's advantage is shown to exceed ε (exact
            binomial tests, Holm-corrected): if every true advantage is ≤ ε, it fails with
            probability ≤ α. ``"certify"`` passes only when every adversary's upper bound is ≤ ε
            (Clopper–Pearson, Bonferroni), and otherwise fails as distinguishable or
            inconclusive, with an estimate of the queries that would decide.
        capability: the capability bucket under test; defaults to the test's ``capability``
            marker.
        seed: the run seed; defaults to the session's ``--bbi-seed``.

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
    prompt_list = _materialize_prompts(prompts)
    test_context = context.current()
    capability = capability if capability is not None else test_context.capability
    if capability is not None:
        check_bucket(capability, test_context.buckets)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BudgetError(f"seed={seed!r}: the seed must be an int (or None for --bbi-seed).")
    run_seed = test_context.seed if seed is None else seed
    adversaries = resolve(budget.adversaries)

    started = time.perf_counter()
    game = play(teacher, student, prompt_list, budget, run_seed)
    generation_seconds = time.perf_counter() - started
    scores = {
        adversary.name: score_adversary(adversary, game, budget, run_seed)
        for adversary in adversaries
    }
    decision, results, queries_to_decide = decide(
        scores, epsilon=epsilon, alpha=alpha, mode=mode, train_fraction=budget.train_fraction
    )
    strongest = max(results.values(), key=lambda result: (result.advantage, -result.total))
    verdict = Verdict(
        passed=decision in ("indistinguishable", "certified"),
        decision=decision,
        mode=mode,
        epsilon=float(epsilon),
        alpha=float(alpha),
        advantage=strongest.advantage,
        lower=max(result.lower for result in results.values()),
        upper=max(result.upper for result in results.values()),
        queries=budget.queries,
        seconds=sum(result.seconds for result in results.values()),
        generation_seconds=generation_seconds,
        adversaries=results,
        seed=run_seed,
        capability=capability,
        queries_to_decide=queries_to_decide,
    )
    test_context.record(verdict)
    for result in results.values():
        if result.timed_out:
            warnings.warn(
                f"adversary {result.name!r} ran out of its {budget.seconds}s budget and was not "
                "scored; raise Budget(seconds=...) so it counts.",
                BbiWarning,
                stacklevel=2,
            )
    if decision == "inconclusive":
        raise Inconclusive(format_verdict(verdict, teacher.name, student.name), verdict)
    if not verdict.passed:
        raise Distinguishable(format_verdict(verdict, teacher.name, student.name), verdict)
    return verdict
