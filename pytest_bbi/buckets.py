"""The capability taxonomy: the default buckets and validation of bucket names."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_bbi.errors import BbiError

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


class UnknownBucketError(BbiError, ValueError):
    """A capability name is not in the taxonomy."""


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
