"""Model backends: the ``Model`` protocol, spec loading and wrappers for Python functions."""

from pytest_bbi.models.base import (
    Model,
    Scorer,
    TokenScorer,
    check_completions,
    check_scores,
    check_token_log_probs,
)
from pytest_bbi.models.callable import CallableModel, from_callable
from pytest_bbi.models.registry import known_schemes, load, parse_spec, register_backend

__all__ = [
    "CallableModel",
    "Model",
    "Scorer",
    "TokenScorer",
    "check_completions",
    "check_scores",
    "check_token_log_probs",
    "from_callable",
    "known_schemes",
    "load",
    "parse_spec",
    "register_backend",
]
