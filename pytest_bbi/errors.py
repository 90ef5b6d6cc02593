"""Every exception and warning pytest-bbi raises: usage errors and behavioral outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_bbi.verdict import Verdict


class BbiError(Exception):
    """Base class of every error pytest-bbi raises for bad input or a broken environment."""


class BudgetError(BbiError, ValueError):
    """A budget, ε, α, mode or calibration argument is out of range; the message names the fix."""


class SeedError(BbiError, ValueError):
    """A seed argument is not an int."""


class NotAModelError(BbiError, ValueError):
    """An argument that should be a model is not one, or lacks the protocol the call needs."""


class PromptError(BbiError, ValueError):
    """The prompt source is missing, empty, or holds something that is not a string."""


class UnknownBucketError(BbiError, ValueError):
    """A capability name is not in the taxonomy."""


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


class FingerprintError(BbiError, ValueError):
    """A fingerprint document or field record is malformed; the message names what and where."""


class ExportError(BbiError, ValueError):
    """An export cannot be written, or a reward model file is not one pytest-bbi can load."""


class AdversaryTimeout(Exception):
    """Raised by ``Deadline.check`` when an adversary has spent its time budget.

    The game catches it and reports the adversary as timed out; it never reaches the user.
    """


class BbiWarning(UserWarning):
    """Something the user should see although the assertion passed, e.g. a timed-out adversary."""


class BehaviorFailure(AssertionError):
    """A behavioral assertion did not pass; the neutral base of its two outcomes.

    Catch it to get the verdict whichever way the decision failed.

    Attributes:
        verdict: The full :class:`~pytest_bbi.Verdict` behind the failure.
    """

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


class Disagreement(AssertionError):
    """Two models answered one prompt differently (:func:`~pytest_bbi.assert_agree`).

    Attributes:
        prompt: the prompt.
        teacher: the teacher's completion.
        student: the student's completion.
        similarity: their embedding similarity, when a threshold was asked for.
    """

    def __init__(
        self, message: str, prompt: str, teacher: str, student: str, similarity: float | None
    ) -> None:
        super().__init__(message)
        self.prompt = prompt
        self.teacher = teacher
        self.student = student
        self.similarity = similarity


class Distinguishable(BehaviorFailure):
    """The decision failed on evidence: some adversary tells the student from the teacher."""


class Inconclusive(BehaviorFailure):
    """The decision failed for want of evidence rather than on evidence of a difference.

    Either ``mode="certify"`` could not bring every upper bound below ε (the verdict's
    ``queries_to_decide`` estimates the budget that would), or an adversary overran its safety
    limit (``Budget.seconds``) and no other was shown to exceed ε, so the class was not played.
    """
