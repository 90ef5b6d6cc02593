"""Behavioral fingerprints: the document, building one from a model or a verdict, comparing two.

``document`` holds the format (field records, validation, canonical JSON), ``build`` draws a
model's outputs (:func:`~pytest_bbi.fingerprint`), ``relation`` describes a verdict, ``compare``
tests two fingerprints field by field, and ``snapshot`` is the syrupy extension.
"""

from pytest_bbi.errors import FingerprintError
from pytest_bbi.fingerprints.build import output_statistics
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
