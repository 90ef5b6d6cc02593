"""The capability taxonomy: the default buckets and validation of bucket names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_bbi.errors import UnknownBucketError

DEFAULT_BUCKETS: tuple[str, ...] = (
    "factual",
    "reasoning",
    "math",
    "code",
    "instruction",
    "style",
    "robustness",
    "domain",
    "safety",
    "multilingual",
)


def check_bucket(name: object, known: Iterable[str] = DEFAULT_BUCKETS) -> str:
    """Return ``name`` if it is a known capability bucket.

    Args:
        name: the candidate bucket name.
        known: the taxonomy in force (the defaults plus the ini key ``bbi_capabilities``).

    Returns:
        The bucket name.

    Raises:
        UnknownBucketError: when ``name`` is not a string or not in ``known``; the message lists
            the valid names and how to add one.
    """
    valid = sorted(known)
    if not isinstance(name, str) or name not in valid:
        raise UnknownBucketError(
            f"unknown capability {name!r}; valid capabilities are: {', '.join(valid)}. "
            "Add your own with the ini key `bbi_capabilities`."
        )
    return name


_registered: dict[str, Any] = {}


def register_capability(name: str, prompts: Any = None) -> None:
    """Add a capability bucket to the taxonomy, optionally with its default prompts.

    Call it at import time of a ``conftest.py`` (or use the ini key ``bbi_capabilities``).

    Args:
        name: the bucket name, as used in ``@pytest.mark.capability(name)``.
        prompts: the bucket's default prompts (a list of strings or a Hypothesis strategy),
            used when a test marked with this bucket passes ``prompts=None``.

    Raises:
        UnknownBucketError: when ``name`` is not a non-empty identifier-like string.
    """
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        raise UnknownBucketError(
            f"register_capability({name!r}): a capability name is a word such as 'legal' or "
            "'customer-support'."
        )
    _registered[name] = prompts


def registered_capabilities() -> dict[str, Any]:
    """The buckets added with :func:`register_capability`, with their default prompts or None."""
    return dict(_registered)
