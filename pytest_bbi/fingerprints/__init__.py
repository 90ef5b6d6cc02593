"""Behavioral fingerprints: the document, its statistics, a verdict's relation, comparing two.

``document`` holds the format (field records, validation, canonical JSON), ``statistics`` the
output statistics of completions, ``relation`` describes a verdict, ``compare`` tests two
fingerprints field by field, and ``snapshot`` is the syrupy extension. Drawing a model's outputs
(:func:`~pytest_bbi.fingerprint`) is a game step: it lives in ``pytest_bbi.game.fingerprint``.
"""

from pytest_bbi.errors import FingerprintError
from pytest_bbi.fingerprints.compare import Comparison, FieldDifference, compare
from pytest_bbi.fingerprints.document import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    Fingerprint,
    advantage_field,
    mean_field,
    proportion_field,
)
from pytest_bbi.fingerprints.relation import relation_fingerprint
from pytest_bbi.fingerprints.statistics import output_statistics

__all__ = [
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "Comparison",
    "FieldDifference",
    "Fingerprint",
    "FingerprintError",
    "advantage_field",
    "compare",
    "mean_field",
    "output_statistics",
    "proportion_field",
    "relation_fingerprint",
]
