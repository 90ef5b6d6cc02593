"""The adversary protocols: what an adversary sees, what it returns, and its deadline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pytest_bbi.errors import AdversaryTimeout as AdversaryTimeout
from pytest_bbi.models.uncounted import seconds_uncounted

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
    """The adversary's safety limit on compute: past ``seconds``, its answer is refused.

    A verdict must not depend on how busy the machine is, so no built-in adversary decides how
    much to work by looking at the clock: each stops after a fixed amount of work (its work cap:
    iterations, epochs, examples or tokens, see its docstring), which makes its answer a pure
    function of its inputs and seed. ``seconds`` is only a safety net against runaway work: an
    adversary that passes it has *overrun* it, its answer is refused, and the verdict reports
    the overrun (see :meth:`overrun`) instead of quietly scoring the class without it.

    Setup is not the adversary's work: a model or encoder loaded on the first cache miss that
    needs it, or a wait for another process computing the same features, happens inside
    :func:`pytest_bbi.models.uncounted.uncounted`, and that time is not counted.

    Args:
        seconds: the limit in seconds, or ``None`` for no limit.
        clock: the clock that measures it; ``None`` for ``time.perf_counter`` (as it is when the
            deadline starts). Tests pass a fake one.
    """

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] | None = None) -> None:
        self.seconds = seconds
        self._clock = time.perf_counter if clock is None else clock
        self._start = self._clock()
        self._setup_before = seconds_uncounted()

    def elapsed(self) -> float:
        """Seconds spent since the adversary started, less setup (loads, waits on others)."""
        return self._clock() - self._start - (seconds_uncounted() - self._setup_before)

    def remaining(self) -> float:
        """Seconds left before the limit (``math.inf`` without one, never negative).

        Kept for adversaries of your own; an adversary whose work depends on it gives answers
        that depend on the machine's load, so the built-ins never use it.
        """
        if self.seconds is None:
            return math.inf
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        """Whether the limit is passed."""
        return self.seconds is not None and self.elapsed() > self.seconds

    def overrun(self) -> str:
        """Why the adversary's answer is refused, in words, as the verdict reports it.

        Returns:
            E.g. ``"spent 12.31s, past its safety limit of 10s"``, or, for an adversary that
            raised :class:`AdversaryTimeout` within the limit, that it stopped itself.
        """
        spent = f"spent {self.elapsed():.2f}s"
        if self.seconds is None:
            return f"{spent} and gave up (AdversaryTimeout) with no safety limit set"
        if self.expired():
            return f"{spent}, past its safety limit of {self.seconds:g}s"
        return f"{spent} and gave up (AdversaryTimeout) within its {self.seconds:g}s safety limit"

    def check(self) -> None:
        """Raise :class:`AdversaryTimeout` once the limit is passed; call it between steps.

        Raises:
            AdversaryTimeout: when more than ``seconds`` have elapsed.
        """
        if self.expired():
            raise AdversaryTimeout(self.overrun())


@runtime_checkable
class Adversary(Protocol):
    """A distinguisher in the pairwise identification game.

    An adversary learns from training pairs (roles known) and then, for each held-out trial,
    returns the probability that ``trial.first`` is the teacher's completion. It never computes
    p-values: the core counts its correct identifications and does the statistics. A probability
    of exactly 0.5 is a coin flip, settled by the core with a seeded coin. The safety limit t
    covers ``decide`` only: load models and other one-time setup in the constructor. For the
    verdict to be a function of the models, prompts, budget and seed alone, ``decide`` should
    be a pure function of its inputs: cap its work by iterations, epochs or examples, not by
    the time left on the deadline.

    A fitted adversary's accuracy varies with its training pairs, so a new seed moves it more
    than binomial noise does. To measure that spread, the core refits the adversary a few
    times on resampled training pairs (see :mod:`pytest_bbi.game.refits`); an adversary whose
    answers do not depend on its training pairs can say so with a class attribute
    ``learns = False`` (see :func:`learns`) and is not refitted.

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
            deadline: the safety limit; call ``deadline.check()`` between expensive steps.

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
    Binding is setup: it is not counted against the safety limit t.

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


def learns(adversary: object) -> bool:
    """Whether an adversary's answers depend on its training pairs.

    Read from its optional ``learns`` attribute; an adversary without one is taken to learn.

    Args:
        adversary: any adversary.

    Returns:
        ``False`` only when the adversary declares ``learns = False``.
    """
    return getattr(adversary, "learns", True) is not False
