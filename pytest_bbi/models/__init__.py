"""Model backends: the ``Model`` protocol, spec loading, in-memory models and student recipes.

The names that need torch (``from_transformers``, ``HFModel``, ``recipes``) load on first use,
so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_bbi.models.base import (
    ExpectationScorer,
    GreedyModel,
    Model,
    Scorer,
    TokenScorer,
    check_completions,
    check_scores,
    check_token_log_probs,
)
from pytest_bbi.models.callable import CallableModel, from_callable
from pytest_bbi.models.gguf import convert_gguf, packaged_gguf
from pytest_bbi.models.lazy import LazyModel
from pytest_bbi.models.registry import known_schemes, load, parse_spec, register_backend

if TYPE_CHECKING:
    from pytest_bbi.models import recipes
    from pytest_bbi.models.hf import HFModel
    from pytest_bbi.models.in_memory import from_transformers

_LAZY: dict[str, tuple[str, str | None]] = {
    "HFModel": ("pytest_bbi.models.hf", "HFModel"),
    "from_transformers": ("pytest_bbi.models.in_memory", "from_transformers"),
    "recipes": ("pytest_bbi.models.recipes", None),
}

__all__ = [
    "CallableModel",
    "ExpectationScorer",
    "GreedyModel",
    "HFModel",
    "LazyModel",
    "Model",
    "Scorer",
    "TokenScorer",
    "check_completions",
    "check_scores",
    "check_token_log_probs",
    "convert_gguf",
    "from_callable",
    "from_transformers",
    "known_schemes",
    "load",
    "packaged_gguf",
    "parse_spec",
    "recipes",
    "register_backend",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pytest_bbi.models' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
