"""The adversary protocols: what an adversary sees, what it returns, and its deadline."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pytest_bbi.errors import AdversaryTimeout as AdversaryTimeout

if TYPE_CHECKING:
    from pytest_bbi.models.base import Model


@dataclass(frozen=True)
class LabeledPair:
    """A training pair: both completions for one prompt, roles revealed."""

    prompt: str
    teacher: str
    student: str


@dataclass(frozen=True)
class Trial:
    """A held-out pair in hidden order: is ``first`` the teacher's completion?"""

    prompt: str
    first: str
    second: str


class Deadline:
    """The adversary's compute budget t, started when the adversary starts.

    Args:
        seconds: the budget in seconds, or ``None`` for no limit.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds spent since the adversary started."""
        return time.perf_counter() - self._start

    def remaining(self) -> float:
        """Seconds left (``math.inf`` without a limit, never negative)."""
        if self.seconds is None:
            return math.inf
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.seconds is not None and self.elapsed() > self.seconds

    def check(self) -> None:
        """Raise :class:`AdversaryTimeout` when the budget is spent; call it between steps.

        Raises:
            AdversaryTimeout: when more than ``seconds`` have elapsed.
        """
        if self.expired():
            raise AdversaryTimeout(f"spent {self.elapsed():.2f}s of a {self.seconds}s budget")


@runtime_checkable
class Adversary(Protocol):
    """A distinguisher in the pairwise identification game.

    An adversary learns from training pairs (roles known) and then, for each held-out trial,
    returns the probability that ``trial.first`` is the teacher's completion. It never computes
    p-values: the core counts its correct identifications and does the statistics. A probability
    of exactly 0.5 is a coin flip, settled by the core with a seeded coin. The time budget t
    covers ``decide`` only: load models and other one-time setup in the constructor.

    Attributes:
        name: the name results are reported under.
    """

    name: str

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> Sequence[float]:
        """Fit on ``train`` and return P(first is the teacher's) for every trial, in order.

        Args:
            train: training pairs with roles revealed.
            trials: held-out pairs in hidden order.
            deadline: the compute budget; call ``deadline.check()`` between expensive steps.

        Returns:
            One probability in [0, 1] per trial.
        """
        ...


@runtime_checkable
class Binding(Protocol):
    """An adversary that needs more than completions: the models themselves, or the run seed.

    Before the game the core calls ``bind(teacher, student, run_seed)``. White-box adversaries
    keep the models (``likelihood`` scores completions with them); a judge derives its seeds
    from the run seed. An adversary that cannot play (e.g. it needs
    :class:`~pytest_bbi.models.Scorer` and a model lacks ``score``, or it has no judge model)
    returns the reason, and the verdict lists it under ``skipped`` instead of scoring it.
    Binding is setup: it is not counted against the time budget t.

    Attributes:
        name: the name results are reported under.
    """

    name: str

    def bind(self, teacher: Model, student: Model, run_seed: int) -> str | None:
        """Receive the models and the run seed; return ``None`` to play, or why it cannot.

        Args:
            teacher: the reference model.
            student: the model under test.
            run_seed: the run seed, to derive any seeds from (see
                :mod:`pytest_bbi.generation.seeding`).

        Returns:
            ``None`` when the adversary can play, else a one-line reason for the report.
        """
        ...


@runtime_checkable
class Explaining(Protocol):
    """An adversary that adds its own counts to its result (``AdversaryResult.details``).

    After its calls are settled, the core tells it which were correct; the adversary returns
    integer counts that explain them (e.g. a judge's consistent-only tally). Counts are summed
    over buckets. They are reported, never used for the decision.
    """

    def explain(self, correct: Sequence[bool]) -> dict[str, int]:
        """Summarize the last ``decide`` call, given which of its trials were called correctly.

        Args:
            correct: per trial of the last ``decide`` call, whether the settled call was right.

        Returns:
            Named integer counts.
        """
        ...
