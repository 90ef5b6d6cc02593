"""The fingerprint document: per-bucket field records, their validation and canonical JSON."""

from __future__ import annotations

import json
import math
import statistics as _stats
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_bbi.errors import FingerprintError
from pytest_bbi.text import json_surrogates_escaped

SCHEMA_NAME = "pytest-bbi/fingerprint"
"""The ``"schema"`` value every fingerprint document carries."""

SCHEMA_VERSION = 3
"""The document version this pytest-bbi writes; it reads this version and older ones.

Version 2 added, to ``"advantage"`` records, how much the adversary's accuracy moves between
fits (``fit_sd``, ``refits``) and whether the count came from a sequential game
(``sequential``); version 1 records lack them and are read as "not measured". Version 3 added
the mean held-out accuracy over the fit and its refits (``fits_accuracy``) and its spread over
held-out pairs (``fits_pair_sd``), which the comparison tests when both sides have them; older
records are compared by their single fit's count (:mod:`pytest_bbi.fingerprints.compare`)."""

FISHER_MAX_TOTAL = 10_000
"""Two-proportion tests use Fisher's exact test up to this many draws in both samples together."""

Z_TEST_MIN_EXPECTED = 10.0
"""Beyond :data:`FISHER_MAX_TOTAL`, the pooled z-test needs this many expected counts per cell."""

MAX_MAGNITUDE = 10**9
"""The largest magnitude of a number in a field record.

A fingerprint counts completions (at most the budget's queries, themselves at most
:data:`pytest_bbi.budget.MAX_QUERIES`) and summarizes them, so a larger number comes from a
damaged or hand-edited file; Fisher's exact test on counts this large still takes under a second.
"""

_TOO_DEEP = (
    "{what} is nested too deeply for Python's JSON reader (lists or objects inside one "
    "another thousands of levels deep); the file is damaged or was not written by pytest-bbi"
)
_KINDS = ("model", "relation")
_TOP_LEVEL = ("kind", "metadata", "schema", "statistics", "version")
_DIGITS = 6

# Field record layouts: key → "int" (a count ≥ 0), "float" (a finite number), "float?" (a finite
# number ≥ 0 or null) or "bool", per type; _OPTIONAL keys may be absent (older documents).
_LAYOUTS: dict[str, dict[str, str]] = {
    "proportion": {"k": "int", "n": "int", "rate": "float"},
    "mean": {"mean": "float", "sd": "float", "n": "int"},
    "advantage": {
        "correct": "int",
        "total": "int",
        "advantage": "float",
        "lower": "float",
        "upper": "float",
    },
}
_OPTIONAL: dict[str, dict[str, str]] = {
    "advantage": {
        "fit_sd": "float?",
        "refits": "int",
        "sequential": "bool",
        "fits_accuracy": "float?",
        "fits_pair_sd": "float?",
    },
}
# type → (its sample size key, its count key): the count must lie within the sample size.
_COUNTS: dict[str, tuple[str, str | None]] = {
    "proportion": ("n", "k"),
    "mean": ("n", None),
    "advantage": ("total", "correct"),
}

# --------------------------------------------------------------------------------------------
# Field records
# --------------------------------------------------------------------------------------------


def rounded(value: float) -> float:
    """Round to 6 decimals, with −0.0 folded into 0.0 so documents are byte-stable."""
    return round(float(value), _DIGITS) + 0.0


def proportion_field(k: int, n: int) -> dict[str, Any]:
    """A ``"proportion"`` field record: ``k`` of ``n`` draws had the property.

    Args:
        k: draws with the property, 0 ≤ k ≤ n.
        n: draws, at least 1.

    Returns:
        ``{"type": "proportion", "k": k, "n": n, "rate": k / n}``, the rate rounded.
    """
    return {"type": "proportion", "k": k, "n": n, "rate": rounded(k / n)}


def mean_field(values: Sequence[float]) -> dict[str, Any]:
    """A ``"mean"`` field record of a sample: its mean, sample standard deviation and size.

    Args:
        values: the sample, at least one value.

    Returns:
        ``{"type": "mean", "mean": …, "sd": …, "n": …}``, rounded; ``sd`` is 0 for one value.
    """
    sd = _stats.stdev(values) if len(values) > 1 else 0.0
    return {
        "type": "mean",
        "mean": rounded(_stats.fmean(values)),
        "sd": rounded(sd),
        "n": len(values),
    }


def advantage_field(
    correct: int,
    total: int,
    advantage: float,
    lower: float,
    upper: float,
    *,
    fit_sd: float | None = None,
    refits: int = 0,
    sequential: bool = False,
    fits_accuracy: float | None = None,
    fits_pair_sd: float | None = None,
) -> dict[str, Any]:
    """An ``"advantage"`` field record: one adversary's score in the identification game.

    Args:
        correct: held-out pairs where it named the teacher.
        total: held-out pairs it was scored on, at least 1.
        advantage: 2·correct/total − 1.
        lower: the lower confidence bound on the advantage.
        upper: the upper confidence bound on the advantage.
        fit_sd: the standard deviation of its held-out accuracy between fits on resampled
            training pairs (0.0 for an adversary that does not learn), or ``None`` when not
            measured.
        refits: the refits that measured ``fit_sd`` (0 when it was not estimated).
        sequential: whether the count came from a sequential game, which may stop early and
            refits between rounds (such a count is not compared).
        fits_accuracy: the mean held-out accuracy over the fit and its ``refits`` refits, or
            ``None`` when not measured.
        fits_pair_sd: the standard deviation over held-out pairs of the share of those fits
            right on each pair, or ``None`` when not measured.

    Returns:
        ``{"type": "advantage", "correct": …, "total": …, "advantage": …, "lower": …,
        "upper": …, "fit_sd": …, "refits": …, "sequential": …, "fits_accuracy": …,
        "fits_pair_sd": …}``, rounded.
    """
    return {
        "type": "advantage",
        "correct": correct,
        "total": total,
        "advantage": rounded(advantage),
        "lower": rounded(lower),
        "upper": rounded(upper),
        "fit_sd": None if fit_sd is None else rounded(fit_sd),
        "refits": refits,
        "sequential": sequential,
        "fits_accuracy": None if fits_accuracy is None else rounded(fits_accuracy),
        "fits_pair_sd": None if fits_pair_sd is None else rounded(fits_pair_sd),
    }


def _fail(message: str, source: str | None) -> FingerprintError:
    where = f" in {source}" if source is not None else ""
    return FingerprintError(f"invalid fingerprint{where}: {message}")


def _record(value: object, where: str, source: str | None) -> dict[str, Any]:
    """Validate one field record and return it normalized (plain dict, rounded floats)."""
    if not isinstance(value, Mapping):
        raise _fail(f"{where} must be an object, got {type(value).__name__}", source)
    kind = value.get("type")
    if kind not in _LAYOUTS:
        raise _fail(
            f"{where} has type {kind!r}; expected one of {', '.join(map(repr, _LAYOUTS))}", source
        )
    layout = _LAYOUTS[kind]
    optional = _OPTIONAL.get(kind, {})
    missing = sorted(set(layout) - set(value))
    if missing:
        raise _fail(f"{where} ({kind}) is missing {', '.join(map(repr, missing))}", source)
    unknown = sorted(set(value) - set(layout) - set(optional) - {"type"}, key=str)
    if unknown:
        raise _fail(f"{where} ({kind}) has unknown key(s) {', '.join(map(repr, unknown))}", source)
    record: dict[str, Any] = {"type": kind}
    expected_keys = {**layout, **{key: optional[key] for key in optional if key in value}}
    for key, expected in expected_keys.items():
        record[key] = _item(value[key], expected, f"{where}.{key}", source)
    size_key, count_key = _COUNTS[kind]
    if record[size_key] < 1:
        raise _fail(f"{where}.{size_key} must be at least 1, got {record[size_key]}", source)
    if count_key is not None and record[count_key] > record[size_key]:
        raise _fail(f"{where}.{count_key} exceeds {size_key}={record[size_key]}", source)
    if kind == "mean" and record["sd"] < 0:
        raise _fail(f"{where}.sd must be ≥ 0, got {record['sd']!r}", source)
    if kind == "advantage" and (record.get("fits_accuracy") or 0.0) > 1.0:
        shown = record["fits_accuracy"]
        raise _fail(f"{where}.fits_accuracy must lie in [0, 1], got {shown!r}", source)
    return record


def _item(item: object, expected: str, where: str, source: str | None) -> Any:
    """One value of a field record, checked against its kind and normalized."""
    if expected == "bool":
        if not isinstance(item, bool):
            raise _fail(f"{where} must be true or false, got {item!r}", source)
        return item
    if expected == "float?" and item is None:
        return None
    if isinstance(item, bool) or not isinstance(item, int | float):
        raise _fail(f"{where} must be a number, got {type(item).__name__}", source)
    _check_magnitude(item, where, source)
    if expected == "int":
        if not isinstance(item, int) or item < 0:
            raise _fail(f"{where} must be a count (an int ≥ 0), got {item!r}", source)
        return item
    if not math.isfinite(item):
        raise _fail(f"{where} must be finite, got {item!r}", source)
    if expected == "float?" and item < 0:
        raise _fail(f"{where} must be ≥ 0 or null, got {item!r}", source)
    return rounded(item)


def _check_magnitude(number: float, where: str, source: str | None) -> None:
    """Refuse a number beyond :data:`MAX_MAGNITUDE` (and an int no float can hold)."""
    if isinstance(number, float) and not math.isfinite(number):
        return  # the field's own check names it
    if abs(number) > MAX_MAGNITUDE:
        small = isinstance(number, float) or abs(number) < 10**24
        shown = repr(number) if small else "a number of more than 24 digits"
        raise _fail(
            f"{where} is {shown}, beyond the largest number a fingerprint holds "
            f"({MAX_MAGNITUDE:,}); the file is damaged or was edited",
            source,
        )


def _statistics(value: object, source: str | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Validate the bucket → field → record mapping and return it normalized."""
    if not isinstance(value, Mapping):
        raise _fail(f"'statistics' must be an object, got {type(value).__name__}", source)
    normalized: dict[str, dict[str, dict[str, Any]]] = {}
    for bucket, fields in value.items():
        if not isinstance(bucket, str):
            raise _fail(f"bucket name {bucket!r} must be a string", source)
        if not isinstance(fields, Mapping) or not fields:
            raise _fail(f"statistics[{bucket!r}] must be a non-empty object of fields", source)
        normalized[bucket] = {}
        for name, record in fields.items():
            if not isinstance(name, str):
                raise _fail(f"field name {name!r} in bucket {bucket!r} must be a string", source)
            normalized[bucket][name] = _record(record, f"{bucket}/{name}", source)
    return normalized


def _metadata(value: object, source: str | None) -> dict[str, Any]:
    """Validate the metadata and return its JSON form (tuples become lists, and so on)."""
    if not isinstance(value, Mapping):
        raise _fail(f"'metadata' must be an object, got {type(value).__name__}", source)
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise _fail(f"'metadata' must be plain JSON data: {error}", source) from error
    except RecursionError:
        raise _fail(_TOO_DEEP.format(what="'metadata'"), source) from None
    return plain


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A behavioral fingerprint: per-bucket summary statistics of a model or of a relation.

    The statistics and metadata are validated and normalized on construction (plain dicts,
    floats rounded to 6 decimals), so equal fingerprints serialize to identical bytes. Do not
    mutate them afterwards.

    Attributes:
        kind: ``"model"`` (one model's outputs, see :func:`output_statistics`) or
            ``"relation"`` (how well adversaries tell two models apart, see
            :func:`relation_fingerprint`).
        statistics: bucket → field name → field record, a plain JSON dict with a ``"type"``:
            ``{"type": "proportion", "k", "n", "rate"}``, ``{"type": "mean", "mean", "sd",
            "n"}`` or ``{"type": "advantage", "correct", "total", "advantage", "lower",
            "upper", "fit_sd", "refits", "sequential", "fits_accuracy", "fits_pair_sd"}``
            (``fit_sd``, ``refits`` and ``sequential`` since version 2, the last two since
            version 3).
        metadata: how the fingerprint was made (model identity, seed, versions, …); stored
            but excluded from equality and from :func:`compare`.

    Raises:
        FingerprintError: when the kind, a bucket, a field record or the metadata is malformed.
    """

    kind: Literal["model", "relation"]
    statistics: Mapping[str, Mapping[str, Mapping[str, Any]]]
    metadata: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise _fail(f"'kind' must be 'model' or 'relation', got {self.kind!r}", None)
        object.__setattr__(self, "statistics", _statistics(self.statistics, None))
        object.__setattr__(self, "metadata", _metadata(self.metadata, None))

    def __eq__(self, other: object) -> bool:
        """Equal when the kind and every statistic match exactly; metadata is ignored."""
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return self.kind == other.kind and self.statistics == other.statistics

    def __hash__(self) -> int:
        return hash((self.kind, json.dumps(self.statistics, sort_keys=True)))

    def to_json(self) -> str:
        r"""Serialize to the canonical document: sorted keys, 2-space indent, final newline.

        Returns:
            ``{"schema": "pytest-bbi/fingerprint", "version": 3, "kind", "statistics",
            "metadata"}`` as UTF-8-ready text; the same fingerprint always gives the same bytes.
            Text is written as it is, except a lone surrogate (say in a model's name), which
            UTF-8 cannot carry: it is written as its JSON escape (``\udce9``), which
            :meth:`from_json` reads back to the same ``str``.
        """
        document = {
            "schema": SCHEMA_NAME,
            "version": SCHEMA_VERSION,
            "kind": self.kind,
            "statistics": self.statistics,
            "metadata": self.metadata,
        }
        text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)
        return json_surrogates_escaped(text) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> Fingerprint:
        """Parse and strictly validate a document written by :meth:`to_json`.

        Args:
            text: the document.
            source: where it came from (e.g. a file path), named in every error message.

        Returns:
            The fingerprint; ``from_json(fp.to_json()).to_json() == fp.to_json()``.

        Raises:
            FingerprintError: on invalid JSON, a wrong schema name, an unsupported or newer
                version, a missing or unknown key, or a field record of the wrong shape.
        """
        if not text.strip():
            raise _fail(
                "the file is empty; rewrite it with --snapshot-update, or delete it and run "
                "with --snapshot-update to record the fingerprint afresh",
                source,
            )
        try:
            document = json.loads(text)
        except (TypeError, ValueError) as error:
            raise _fail(f"not valid JSON ({error})", source) from error
        except RecursionError:
            raise _fail(_TOO_DEEP.format(what="the document"), source) from None
        if not isinstance(document, dict):
            raise _fail(
                f"the document must be a JSON object, got {type(document).__name__}", source
            )
        if document.get("schema") != SCHEMA_NAME:
            raise _fail(f"'schema' is {document.get('schema')!r}, expected {SCHEMA_NAME!r}", source)
        version = document.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _fail(f"'version' must be an int ≥ 1, got {version!r}", source)
        if version > SCHEMA_VERSION:
            raise _fail(
                f"written by a newer pytest-bbi (version {version} > {SCHEMA_VERSION}); upgrade "
                "pytest-bbi or regenerate with --snapshot-update",
                source,
            )
        missing = sorted(set(_TOP_LEVEL) - set(document))
        if missing:
            raise _fail(f"missing key(s) {', '.join(map(repr, missing))}", source)
        unknown = sorted(set(document) - set(_TOP_LEVEL))
        if unknown:
            raise _fail(f"unknown key(s) {', '.join(map(repr, unknown))}", source)
        kind = document["kind"]
        if kind not in _KINDS:
            raise _fail(f"'kind' must be 'model' or 'relation', got {kind!r}", source)
        return cls(
            kind=kind,
            statistics=_statistics(document["statistics"], source),
            metadata=_metadata(document["metadata"], source),
        )
