"""The adversary class 𝔸: the ``Adversary`` protocol, the registry and the default class."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pytest_bbi.adversaries.base import (
    Adversary,
    AdversaryTimeout,
    Binding,
    Deadline,
    Explaining,
    LabeledPair,
    Trial,
)
from pytest_bbi.errors import AdversaryError
from pytest_bbi.registry import Registry

ENTRY_POINT_GROUP = "pytest_bbi.adversaries"
DEFAULT_CLASS: tuple[str, ...] = ("stylometric", "embedding", "kernel")
"""The adversaries run when ``Budget.adversaries`` is None: the strongest set for a CPU budget.

A stylometric classifier (surface tics, milliseconds), an embedding classifier (shifts in
content, seconds), and the kernel witness (character-level distribution shifts, the statistic
of model-equality-testing, milliseconds). ``likelihood`` joins automatically when both models
can score completions (:data:`WHITE_BOX_DEFAULTS`). ``finetuned`` is left out: on a CPU it costs
tens of seconds per bucket for a few hundred pairs, more than the rest together, while
the embedding adversary already covers most of its ground; name it (and ``judge``, which needs a
judge model) in ``Budget(adversaries=[...])`` when a GPU or time allows."""
WHITE_BOX_DEFAULTS: tuple[str, ...] = ("likelihood",)
"""Joined to the default class when both models can score completions: the likelihood-ratio
rule is the optimal pairwise adversary, so it is the strongest member whenever it can play."""
REFERENCE_DEFAULTS: tuple[str, ...] = ("reference",)
"""Joined to the default class when a local model can score completions (the teacher, or the
session's ``--bbi-reference``) and the likelihood adversary cannot play (a black-box student or
teacher): scoring both completions with a model that knows the teacher's distribution is the
strongest adversary that needs no ``score()`` from the student (see
:func:`~pytest_bbi.adversaries.local.joins_default_class`). ``rank`` (local samples per prompt,
RUT-style) is left out: it costs m generations per prompt; name it when a local model is cheap
to sample."""


def _unknown_adversary(name: str, known: list[str], close: str | None) -> AdversaryError:
    guess = f" Did you mean {close!r}?" if close else ""
    return AdversaryError(
        f"unknown adversary {name!r}; available adversaries: {', '.join(known)}.{guess} "
        "Register your own with pytest_bbi.adversaries.register(name, factory)."
    )


ADVERSARIES: Registry[Callable[[], Adversary]] = Registry(
    ENTRY_POINT_GROUP,
    {
        "stylometric": "pytest_bbi.adversaries.stylometric:StylometricAdversary",
        "embedding": "pytest_bbi.adversaries.embedding:EmbeddingAdversary",
        "finetuned": "pytest_bbi.adversaries.finetuned:FinetunedAdversary",
        "judge": "pytest_bbi.adversaries.judge:JudgeAdversary",
        "kernel": "pytest_bbi.adversaries.kernel:KernelAdversary",
        "likelihood": "pytest_bbi.adversaries.likelihood:LikelihoodAdversary",
        "rank": "pytest_bbi.adversaries.rank:RankAdversary",
        "reference": "pytest_bbi.adversaries.reference:ReferenceAdversary",
    },
    unknown=_unknown_adversary,
)
"""The adversaries budgets can name: name → zero-argument factory."""

__all__ = [
    "DEFAULT_CLASS",
    "REFERENCE_DEFAULTS",
    "WHITE_BOX_DEFAULTS",
    "Adversary",
    "AdversaryTimeout",
    "Binding",
    "Deadline",
    "Explaining",
    "LabeledPair",
    "Trial",
    "available",
    "register",
    "resolve",
]


def register(name: str, factory: Callable[[], Adversary]) -> None:
    """Register an adversary factory under ``name`` for use in ``Budget(adversaries=[name])``.

    Packages can instead expose the factory under the entry-point group
    ``pytest_bbi.adversaries``.

    Args:
        name: the name budgets refer to.
        factory: a zero-argument callable returning a fresh adversary.
    """
    ADVERSARIES.register(name, factory)


def available() -> list[str]:
    """Every adversary name that can be resolved."""
    return ADVERSARIES.available()


def resolve(
    specs: Sequence[str | Adversary] | None, *, white_box: bool = False, reference: bool = False
) -> list[Adversary]:
    """Turn a budget's adversary specs into adversary objects (the default class for None).

    Args:
        specs: names and adversary objects, or None.
        white_box: whether both models can score completions; then the default class also
            holds :data:`WHITE_BOX_DEFAULTS`.
        reference: whether a local scorer can stand in for a black-box side; then the default
            class also holds :data:`REFERENCE_DEFAULTS`.

    Returns:
        The adversaries, in order.

    Raises:
        AdversaryError: for an unknown name, an object that is not an adversary, or two
            adversaries with the same name.
    """
    adversaries: list[Adversary] = []
    default = (
        DEFAULT_CLASS
        + (WHITE_BOX_DEFAULTS if white_box else ())
        + (REFERENCE_DEFAULTS if reference else ())
    )
    for spec in default if specs is None else specs:
        adversary = ADVERSARIES.get(spec)() if isinstance(spec, str) else spec
        if not isinstance(adversary, Adversary):
            raise AdversaryError(
                f"{spec!r} is not an adversary: it needs a `name` and a "
                "`decide(train, trials, deadline)` method (see pytest_bbi.Adversary)."
            )
        adversaries.append(adversary)
    names = [adversary.name for adversary in adversaries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AdversaryError(
            f"adversaries {duplicates} appear more than once in the budget; give each a distinct "
            "name."
        )
    return adversaries
