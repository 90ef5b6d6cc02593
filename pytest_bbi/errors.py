"""The exception hierarchy of pytest-bbi: usage errors and failed behavioral decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_bbi.verdict import Verdict


class BbiError(Exception):
    """Base class of every error pytest-bbi raises for bad input or a broken environment."""


class BudgetError(BbiError, ValueError):
    """A budget, ε, α or mode argument is out of range; the message names the argument and fix."""


class PromptError(BbiError, ValueError):
    """The prompt source is missing, empty, or holds something that is not a string."""


class ModelSpecError(BbiError, ValueError):
    """A model spec (``hf:…``, ``python:…``) cannot be parsed or names no loadable model."""


class ModelOutputError(BbiError):
    """A model returned the wrong number of completions, or a completion that is not a string."""


class BackendError(BbiError):
    """A model server failed: unreachable, refusing, timing out, or erroring after retries.

    The message names the endpoint and what to check; it never contains credentials.
    """


class AdversaryError(BbiError, ValueError):
    """An adversary name is unknown, or an adversary object does not follow the protocol."""


class BbiWarning(UserWarning):
    """Something the user should see although the assertion passed, e.g. a timed-out adversary."""


class Distinguishable(AssertionError):
    """The behavioral decision failed: some adversary tells the student from the teacher.

    Attributes:
        verdict: The full :class:`~pytest_bbi.Verdict` behind the failure.
    """

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


class Inconclusive(Distinguishable):
    """The decision failed for want of evidence rather than on evidence of a difference.

    Either ``mode="certify"`` could not bring every upper bound below ε (the verdict's
    ``queries_to_decide`` estimates the budget that would), or every adversary ran out of time,
    so nothing was tested.
    """
