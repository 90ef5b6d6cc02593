"""pytest-bbi: bounded behavioral indistinguishability tests for distilled models.

Import it as ``import pytest_bbi as bbi``. The light names are imported eagerly; the assertion
and the model backends load on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_bbi._version import __version__
from pytest_bbi.budget import Budget
from pytest_bbi.errors import (
    AdversaryError,
    BbiError,
    BbiWarning,
    BehaviorFailure,
    BudgetError,
    Disagreement,
    Distinguishable,
    ExportError,
    Inconclusive,
    ModelOutputError,
    ModelSpecError,
    NotAModelError,
    PromptError,
    SeedError,
)
from pytest_bbi.prompts.buckets import register_capability
from pytest_bbi.verdict import (
    AdversaryResult,
    BucketResult,
    Calibration,
    Certificate,
    ConfidenceBin,
    Example,
    OperatingPoint,
    Verdict,
)

if TYPE_CHECKING:
    from pytest_bbi import adversaries, models, prompts, strategies
    from pytest_bbi.adversaries import Adversary
    from pytest_bbi.agreement import assert_agree
    from pytest_bbi.assertion import assert_indistinguishable
    from pytest_bbi.fingerprints.document import Fingerprint
    from pytest_bbi.game.calibration import Calibrate
    from pytest_bbi.game.fingerprint import fingerprint
    from pytest_bbi.game.planner import Plan, plan
    from pytest_bbi.game.search import FoundPrompt, SearchResult, search
    from pytest_bbi.generation.cached_model import cached
    from pytest_bbi.models import Model

_LAZY: dict[str, tuple[str, str | None]] = {
    "assert_indistinguishable": ("pytest_bbi.assertion", "assert_indistinguishable"),
    "assert_agree": ("pytest_bbi.agreement", "assert_agree"),
    "Calibrate": ("pytest_bbi.game.calibration", "Calibrate"),
    "cached": ("pytest_bbi.generation.cached_model", "cached"),
    "Fingerprint": ("pytest_bbi.fingerprints.document", "Fingerprint"),
    "fingerprint": ("pytest_bbi.game.fingerprint", "fingerprint"),
    "plan": ("pytest_bbi.game.planner", "plan"),
    "Plan": ("pytest_bbi.game.planner", "Plan"),
    "search": ("pytest_bbi.game.search", "search"),
    "SearchResult": ("pytest_bbi.game.search", "SearchResult"),
    "FoundPrompt": ("pytest_bbi.game.search", "FoundPrompt"),
    "prompts": ("pytest_bbi.prompts", None),
    "strategies": ("pytest_bbi.strategies", None),
    "Adversary": ("pytest_bbi.adversaries", "Adversary"),
    "Model": ("pytest_bbi.models", "Model"),
    "adversaries": ("pytest_bbi.adversaries", None),
    "models": ("pytest_bbi.models", None),
}

__all__ = [
    "Adversary",
    "AdversaryError",
    "AdversaryResult",
    "BbiError",
    "BbiWarning",
    "BehaviorFailure",
    "BucketResult",
    "Budget",
    "BudgetError",
    "Calibrate",
    "Calibration",
    "Certificate",
    "ConfidenceBin",
    "Disagreement",
    "Distinguishable",
    "Example",
    "ExportError",
    "Fingerprint",
    "FoundPrompt",
    "Inconclusive",
    "Model",
    "ModelOutputError",
    "ModelSpecError",
    "NotAModelError",
    "OperatingPoint",
    "Plan",
    "PromptError",
    "SearchResult",
    "SeedError",
    "Verdict",
    "__version__",
    "adversaries",
    "assert_agree",
    "assert_indistinguishable",
    "cached",
    "fingerprint",
    "models",
    "plan",
    "prompts",
    "register_capability",
    "search",
    "strategies",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pytest_bbi' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
