"""One play of the pairwise identification game: generating pairs, hiding their order, scoring."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pytest_bbi.adversaries import (
    Adversary,
    AdversaryTimeout,
    Binding,
    Deadline,
    Explaining,
    LabeledPair,
    Trial,
)
from pytest_bbi.errors import AdversaryError
from pytest_bbi.game.acquisition import Query
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model, check_completions
from pytest_bbi.verdict import Example

EXAMPLES_PER_ADVERSARY = 3


@dataclass(frozen=True)
class Game:
    """One bucket's material: training pairs and held-out pairs with their hidden order."""

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


@dataclass(frozen=True)
class Score:
    """An adversary's count in one game, before any statistics.

    ``evidence`` holds, per held-out pair in order, how surely the adversary named the teacher:
    its probability of the right answer minus ½, in [−½, ½] (empty when it timed out).
    ``timed_out`` says the adversary overran its safety limit (its answer was refused) and
    ``overrun`` says by how much, e.g. ``"spent 12.31s, past its safety limit of 10s"``.
    ``refits`` and ``fit_variance`` measure how much its held-out accuracy moves between fits
    on resampled training pairs (:mod:`pytest_bbi.game.refits`): 0 and ``None`` when not
    measured (a game of several rounds, or a refit that overran), 0 and 0.0 for an adversary
    that does not learn. ``fits_accuracy`` is the mean held-out accuracy over the fit and its
    refits and ``fits_pair_sd`` the standard deviation over held-out pairs of the share of
    those fits right on each pair (both ``None`` when no refit was measured): what relation
    fingerprints compare.
    ``calls`` holds, per held-out pair in order, whether it named the teacher, and ``rounds``
    how many held-out pairs each round it played scored: the path a group-sequential design
    reads.
    """

    correct: int
    total: int
    seconds: float
    timed_out: bool
    examples: tuple[Example, ...]
    evidence: tuple[float, ...] = ()
    details: Mapping[str, int] = field(default_factory=dict)
    overrun: str | None = None
    refits: int = 0
    fit_variance: float | None = None
    fits_accuracy: float | None = None
    fits_pair_sd: float | None = None
    calls: tuple[bool, ...] = ()
    rounds: tuple[int, ...] = ()

    def then(self, later: Score) -> Score:
        """This score followed by a later round's: counts and seconds add up, examples merge.

        Args:
            later: the score of the next round, on new held-out pairs.

        Returns:
            The combined score; timed out if either round timed out. Its fit spread is not
            measured: the rounds' fits differ.
        """
        details = dict(self.details)
        for key, count in later.details.items():
            details[key] = details.get(key, 0) + count
        return Score(
            correct=self.correct + later.correct,
            total=self.total + later.total,
            seconds=self.seconds + later.seconds,
            timed_out=self.timed_out or later.timed_out,
            examples=most_confident([*self.examples, *later.examples]),
            evidence=(*self.evidence, *later.evidence),
            details=details,
            overrun=self.overrun or later.overrun,
            calls=(*self.calls, *later.calls),
            rounds=(*self.rounds, *later.rounds),
        )


def most_confident(examples: Sequence[Example]) -> tuple[Example, ...]:
    """The :data:`EXAMPLES_PER_ADVERSARY` most confident examples, most confident first."""
    ranked = sorted(examples, key=lambda example: -example.confidence)
    return tuple(ranked[:EXAMPLES_PER_ADVERSARY])


def generate_role(model: Model, role: str, queries: Sequence[Query], run_seed: int) -> list[str]:
    """Ask ``model`` every query, in one call, with the seeds of ``role``.

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


def make_game(
    queries: Sequence[Query],
    teacher_outputs: Sequence[str],
    student_outputs: Sequence[str],
    train_queries: int,
    run_seed: int,
    stratum: str = "",
    round_index: int = 0,
) -> Game:
    """Split generated pairs into training and held-out pairs; hide each held-out order.

    Each round of a sequential game hides its orders with its own seeded coin.
    """
    pairs = [
        LabeledPair(query.prompt, teacher_output, student_output)
        for query, teacher_output, student_output in zip(
            queries, teacher_outputs, student_outputs, strict=True
        )
    ]
    coin = random.Random(derive_seed(run_seed, "order", stratum, round_index))
    held_out = pairs[train_queries:]
    return Game(
        train=pairs[:train_queries],
        held_out=held_out,
        first_is_teacher=[coin.random() < 0.5 for _ in held_out],
    )


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


FROZEN_TOLERANCE = 1e-4
"""How far a frozen adversary's answer to the same trial may move between rounds (batching may
change the last digits of an encoder's output); a larger change means it was fitted anew."""


def _check_frozen(adversary: Adversary, probe: tuple[Trial, float], answer: float) -> None:
    trial, expected = probe
    if abs(answer - expected) > FROZEN_TOLERANCE:
        raise AdversaryError(
            f"adversary {adversary.name!r} answered the same held-out pair differently after the "
            f"same training pairs ({expected:.4f}, then {answer:.4f}; prompt "
            f"{trial.prompt!r:.60}). A certificate speaks for one fitted adversary, so with "
            "mode='certify' and sequential=True decide() must be a deterministic function of "
            "the training pairs and the trial: seed its randomness (e.g. random_state=0), or "
            "play a fixed-n game (sequential=False)."
        )


def score_adversary(
    adversary: Adversary,
    game: Game,
    seconds: float | None,
    run_seed: int,
    stratum: str = "",
    round_index: int = 0,
    probe: tuple[Trial, float] | None = None,
) -> Score:
    """Let one adversary play a game within its safety limit and count its correct calls.

    A probability of exactly 0.5 is settled by a seeded coin (one per round), so an adversary
    that cannot decide is scored as guessing, which keeps the count Binomial(n, ½) under H0. An
    adversary that passes the limit (it raised ``AdversaryTimeout``, or answered too late) has
    its answer refused and is reported as overrun, with by how much (``Score.overrun``).

    ``probe`` (a trial of an earlier round and the answer the adversary gave it then) checks
    that a frozen adversary is still the same fit: the trial is decided again with this round's
    trials, apart from the count. Adversaries that explain their calls (:class:`Explaining`)
    are not probed, since ``explain`` reads one settled call per trial.

    Raises:
        AdversaryError: for a malformed answer, or a probe answered differently.
    """
    if isinstance(adversary, Explaining):
        probe = None
    deadline = Deadline(seconds)
    trials = game.trials() + ([] if probe is None else [probe[0]])
    try:
        answer = adversary.decide(game.train, trials, deadline)
    except AdversaryTimeout:
        return Score(0, 0, deadline.elapsed(), True, (), overrun=deadline.overrun())
    elapsed = deadline.elapsed()
    if deadline.expired():
        return Score(0, 0, elapsed, True, (), overrun=deadline.overrun())
    probabilities = _check_probabilities(adversary, answer, len(trials))
    if probe is not None:
        _check_frozen(adversary, probe, probabilities.pop())
    tie_coin = random.Random(derive_seed(run_seed, f"ties:{adversary.name}", stratum, round_index))
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
    evidence = tuple(
        (probability if teacher_first else 1.0 - probability) - 0.5
        for probability, teacher_first in zip(probabilities, game.first_is_teacher, strict=True)
    )
    details = _explain(adversary, correct_flags) if isinstance(adversary, Explaining) else {}
    return Score(
        correct=sum(correct_flags),
        total=len(correct_flags),
        seconds=elapsed,
        timed_out=False,
        examples=examples,
        evidence=evidence,
        details=details,
        calls=tuple(correct_flags),
        rounds=(len(correct_flags),),
    )


def _explain(adversary: Explaining, correct: list[bool]) -> dict[str, int]:
    details = adversary.explain(correct)
    if not isinstance(details, dict) or not all(
        isinstance(key, str) and isinstance(value, int) and not isinstance(value, bool)
        for key, value in details.items()
    ):
        raise AdversaryError(
            f"adversary {getattr(adversary, 'name', adversary)!r} explained its calls with "
            f"{details!r:.80}; explain() must return a dict of named integer counts."
        )
    return details


def bind_adversaries(
    adversaries: Sequence[Adversary], teacher: Model, student: Model, run_seed: int
) -> tuple[list[Adversary], dict[str, str]]:
    """Bind the adversaries that ask for it; set aside those that cannot play, with why.

    Args:
        adversaries: the adversary class 𝔸.
        teacher: the reference model.
        student: the model under test.
        run_seed: the run seed.

    Returns:
        The adversaries that play, in order, and name → reason for those that cannot.

    Raises:
        AdversaryError: when no adversary can play.
    """
    playing: list[Adversary] = []
    skipped: dict[str, str] = {}
    for adversary in adversaries:
        reason = (
            adversary.bind(teacher, student, run_seed) if isinstance(adversary, Binding) else None
        )
        if reason is None:
            playing.append(adversary)
        else:
            skipped[adversary.name] = reason
    if not playing:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        raise AdversaryError(
            f"no adversary in the budget can play against these models ({reasons}); add a "
            "black-box adversary such as 'stylometric', or pass models that implement score()."
        )
    return playing, skipped
