"""Behavioral fingerprints: per-bucket summary statistics, their canonical JSON and comparison."""

from __future__ import annotations

import json
import math
import re
import statistics as _stats
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from scipy import stats as _sps

from pytest_bbi.errors import BbiError, BudgetError
from pytest_bbi.stats import holm_adjusted

if TYPE_CHECKING:
    from pytest_bbi.verdict import Verdict

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

SCHEMA_NAME = "pytest-bbi/fingerprint"
"""The ``"schema"`` value every fingerprint document carries."""

SCHEMA_VERSION = 1
"""The document version this pytest-bbi writes; it reads this version and older ones."""

FISHER_MAX_TOTAL = 10_000
"""Two-proportion tests use Fisher's exact test up to this many draws in both samples together."""

Z_TEST_MIN_EXPECTED = 10.0
"""Beyond :data:`FISHER_MAX_TOTAL`, the pooled z-test needs this many expected counts per cell."""

_KINDS = ("model", "relation")
_TOP_LEVEL = ("kind", "metadata", "schema", "statistics", "version")
_DIGITS = 6

# Field record layouts: key → "int" (a count ≥ 0) or "float" (a finite number), per type.
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
# type → (its sample size key, its count key): the count must lie within the sample size.
_COUNTS: dict[str, tuple[str, str | None]] = {
    "proportion": ("n", "k"),
    "mean": ("n", None),
    "advantage": ("total", "correct"),
}

_REFUSAL = re.compile(
    r"\b(?:i\s+can['’]?t|i\s+cannot|i['’]m\s+sorry|i\s+am\s+sorry|as\s+an\s+ai\b|i\s+won['’]t"
    r"|i\s+will\s+not|i\s+am\s+unable|i['’]m\s+unable)",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
_INDENTED_CODE = re.compile(r"^(?: {4}|\t)[ \t]*\S", re.MULTILINE)


class FingerprintError(BbiError, ValueError):
    """A fingerprint document or field record is malformed; the message names what and where."""


# --------------------------------------------------------------------------------------------
# Field records
# --------------------------------------------------------------------------------------------


def _round(value: float) -> float:
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
    return {"type": "proportion", "k": k, "n": n, "rate": _round(k / n)}


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
        "mean": _round(_stats.fmean(values)),
        "sd": _round(sd),
        "n": len(values),
    }


def advantage_field(
    correct: int, total: int, advantage: float, lower: float, upper: float
) -> dict[str, Any]:
    """An ``"advantage"`` field record: one adversary's score in the identification game.

    Args:
        correct: held-out pairs where it named the teacher.
        total: held-out pairs it was scored on, at least 1.
        advantage: 2·correct/total − 1.
        lower: the lower confidence bound on the advantage.
        upper: the upper confidence bound on the advantage.

    Returns:
        ``{"type": "advantage", "correct": …, "total": …, "advantage": …, "lower": …,
        "upper": …}``, rounded.
    """
    return {
        "type": "advantage",
        "correct": correct,
        "total": total,
        "advantage": _round(advantage),
        "lower": _round(lower),
        "upper": _round(upper),
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
    missing = sorted(set(layout) - set(value))
    if missing:
        raise _fail(f"{where} ({kind}) is missing {', '.join(map(repr, missing))}", source)
    unknown = sorted(set(value) - set(layout) - {"type"}, key=str)
    if unknown:
        raise _fail(f"{where} ({kind}) has unknown key(s) {', '.join(map(repr, unknown))}", source)
    record: dict[str, Any] = {"type": kind}
    for key, expected in layout.items():
        item = value[key]
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise _fail(f"{where}.{key} must be a number, got {type(item).__name__}", source)
        if expected == "int":
            if not isinstance(item, int) or item < 0:
                raise _fail(f"{where}.{key} must be a count (an int ≥ 0), got {item!r}", source)
            record[key] = item
        else:
            if not math.isfinite(item):
                raise _fail(f"{where}.{key} must be finite, got {item!r}", source)
            record[key] = _round(item)
    size_key, count_key = _COUNTS[kind]
    if record[size_key] < 1:
        raise _fail(f"{where}.{size_key} must be at least 1, got {record[size_key]}", source)
    if count_key is not None and record[count_key] > record[size_key]:
        raise _fail(f"{where}.{count_key} exceeds {size_key}={record[size_key]}", source)
    if kind == "mean" and record["sd"] < 0:
        raise _fail(f"{where}.sd must be ≥ 0, got {record['sd']!r}", source)
    return record


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
            "upper"}``.
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
        """Serialize to the canonical document: sorted keys, 2-space indent, final newline.

        Returns:
            ``{"schema": "pytest-bbi/fingerprint", "version": 1, "kind", "statistics",
            "metadata"}`` as UTF-8-ready text; the same fingerprint always gives the same bytes.
        """
        document = {
            "schema": SCHEMA_NAME,
            "version": SCHEMA_VERSION,
            "kind": self.kind,
            "statistics": self.statistics,
            "metadata": self.metadata,
        }
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

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
        try:
            document = json.loads(text)
        except (TypeError, ValueError) as error:
            raise _fail(f"not valid JSON ({error})", source) from error
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


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def _summary(record: Mapping[str, Any]) -> str:
    """A record's headline value, e.g. ``mean 42.1``, ``rate 0.12 (24/200)``, or the kind."""
    kind = record.get("type")
    if kind == "proportion":
        return f"rate {_number(record['rate'])} ({record['k']}/{record['n']})"
    if kind == "mean":
        return f"mean {_number(record['mean'])}"
    if kind == "advantage":
        return f"advantage {_number(record['advantage'])} ({record['correct']}/{record['total']})"
    return str(record.get("kind"))


def _value(record: Mapping[str, Any]) -> str:
    """The headline value without the record type's name, for the right side of an arrow."""
    return _summary(record).split(" ", 1)[1]


@dataclass(frozen=True)
class FieldDifference:
    """One compared field of two fingerprints.

    Attributes:
        bucket: the bucket (``""`` for the fingerprint's kind).
        field: the field name (``"kind"`` for the fingerprint's kind).
        old: the old record (``{"type": "kind", "kind": …}`` for the kind), or ``None`` when
            the field was added.
        new: the new record, or ``None`` when the field was removed.
        test: the two-sided test used (``"Fisher's exact test"``, ``"pooled z-test"``,
            ``"Welch t-test"``, ``"zero-variance comparison"``), or ``"structure"``
            when the field exists in only one fingerprint or changed type.
        p_value: the Holm-adjusted p-value of "same underlying value" (0 for ``"structure"``).
        significant: whether the adjusted p-value is ≤ α (always for ``"structure"``).
    """

    bucket: str
    field: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    test: str
    p_value: float
    significant: bool

    def describe(self) -> str:
        """One line: where, old → new, and the test with its Holm-adjusted p-value.

        Returns:
            E.g. ``style/length_chars: mean 42.1 → 57.3 (Welch t-test, p=0.0003 after Holm)``,
            or ``math/refusal: added, rate 0.1 (20/200)`` for a structural one.
        """
        name = f"{self.bucket}/{self.field}" if self.bucket else self.field
        if self.new is None:
            return f"{name}: removed" + ("" if self.old is None else f", was {_summary(self.old)}")
        if self.old is None:
            return f"{name}: added, {_summary(self.new)}"
        if self.test == "structure":
            return f"{name}: {_summary(self.old)} → {_summary(self.new)} (not comparable)"
        test = f"{self.test}, p={self.p_value:.2g} after Holm"
        return f"{name}: {_summary(self.old)} → {_value(self.new)} ({test})"


@dataclass(frozen=True)
class Comparison:
    """The field-by-field comparison of two fingerprints, Holm-corrected over the fields.

    Attributes:
        differences: every compared field, structural differences included, in bucket and
            field order.
        alpha: the family-wise error rate: if the two fingerprints come from the same behavior,
            some field is flagged with probability at most α.
    """

    differences: tuple[FieldDifference, ...]
    alpha: float

    @property
    def significant(self) -> tuple[FieldDifference, ...]:
        """The significant differences (structural ones included)."""
        return tuple(difference for difference in self.differences if difference.significant)

    @property
    def equal(self) -> bool:
        """No significant difference: same kind, same buckets and fields, values within noise."""
        return not self.significant

    def report(self) -> str:
        """A readable diff: a headline, then significant differences, then the others.

        Returns:
            Lines like ``style/length_chars: mean 42.1 → 57.3 (Welch t-test, p=0.0003 after
            Holm)``; a bucket present in only one fingerprint gets one line, and added, removed
            or retyped fields say so.
        """
        tested = sum(difference.test != "structure" for difference in self.differences)
        rule = f"two-sided tests, Holm-corrected over {tested} fields, alpha={self.alpha:g}"
        if self.equal:
            lines = [f"fingerprints match: no significant difference ({rule})"]
        else:
            lines = [f"fingerprints differ in {len(self.significant)} field(s) ({rule}):"]
        by_bucket: dict[str, list[FieldDifference]] = {}
        for difference in self.differences:
            by_bucket.setdefault(difference.bucket, []).append(difference)
        whole: dict[str, str] = {}
        for bucket, group in by_bucket.items():
            if bucket and all(difference.old is None for difference in group):
                whole[bucket] = "added"
            elif bucket and all(difference.new is None for difference in group):
                whole[bucket] = "removed"
        lines += [
            f"  ✗ bucket {bucket!r} {what}, with fields "
            + ", ".join(difference.field for difference in by_bucket[bucket])
            for bucket, what in whole.items()
        ]
        lines += [
            f"  ✗ {difference.describe()}"
            for difference in self.significant
            if difference.bucket not in whole
        ]
        others = [difference for difference in self.differences if not difference.significant]
        if others and not self.equal:
            lines.append("  within noise:")
        lines += [f"    {difference.describe()}" for difference in others]
        return "\n".join(lines)


def _two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[str, float]:
    """Two-sided test of equal rates: Fisher's exact test, or a pooled z-test when n is large."""
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n1, n2) * min(pooled, 1.0 - pooled)
    if n1 + n2 <= FISHER_MAX_TOTAL or expected < Z_TEST_MIN_EXPECTED:
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        return "Fisher's exact test", float(_sps.fisher_exact(table).pvalue)
    z = (k1 / n1 - k2 / n2) / math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    return "pooled z-test", float(2.0 * _sps.norm.sf(abs(z)))


def _two_means(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, float]:
    """Welch's two-sided t-test from summary statistics; exact for two constant samples."""
    if old["sd"] == 0 and new["sd"] == 0:
        return "zero-variance comparison", 1.0 if old["mean"] == new["mean"] else 0.0
    result = _sps.ttest_ind_from_stats(
        old["mean"], old["sd"], old["n"], new["mean"], new["sd"], new["n"], equal_var=False
    )
    p_value = float(result.pvalue)
    return "Welch t-test", 1.0 if math.isnan(p_value) else p_value


def _raw_test(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, float]:
    kind = old["type"]
    if kind == "proportion":
        return _two_proportions(old["k"], old["n"], new["k"], new["n"])
    if kind == "mean":
        return _two_means(old, new)
    return _two_proportions(old["correct"], old["total"], new["correct"], new["total"])


def compare(old: Fingerprint, new: Fingerprint, *, alpha: float = 0.05) -> Comparison:
    """Test, field by field, whether two fingerprints describe the same underlying behavior.

    Every field present in both gets a two-sided test of "same underlying value": proportions
    and advantages a two-proportion test (Fisher's exact test on the 2×2 table; a pooled z-test
    past :data:`FISHER_MAX_TOTAL` draws), means Welch's t-test from the summary statistics (two
    zero-variance samples differ exactly when their means do). The p-values are Holm-adjusted
    over all tested fields, so two fingerprints of the same behavior (e.g. the same model under
    different seeds) show a significant difference with probability at most α. A different kind,
    or a bucket or field present in only one fingerprint, is a structural difference: p = 0,
    always significant.

    Args:
        old: the reference fingerprint (e.g. the stored snapshot).
        new: the fingerprint under test.
        alpha: the family-wise error rate, in (0, 1).

    Returns:
        The comparison; ``comparison.equal`` is the verdict, ``comparison.report()`` the diff.

    Raises:
        BudgetError: when α is outside (0, 1).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise BudgetError(f"alpha={alpha!r}: the family-wise error rate must lie in (0, 1)")
    structural: list[FieldDifference] = []
    if old.kind != new.kind:
        structural.append(
            FieldDifference(
                "", "kind", {"kind": old.kind}, {"kind": new.kind}, "structure", 0.0, True
            )
        )
    tested: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any], str, float]] = []
    for bucket in sorted(set(old.statistics) | set(new.statistics)):
        old_fields = old.statistics.get(bucket, {})
        new_fields = new.statistics.get(bucket, {})
        for name in sorted(set(old_fields) | set(new_fields)):
            before, after = old_fields.get(name), new_fields.get(name)
            if before is None or after is None or before["type"] != after["type"]:
                structural.append(
                    FieldDifference(bucket, name, before, after, "structure", 0.0, True)
                )
            else:
                test, p_value = _raw_test(before, after)
                tested.append((bucket, name, before, after, test, min(1.0, max(0.0, p_value))))
    adjusted = holm_adjusted([row[5] for row in tested])
    differences = structural + [
        FieldDifference(bucket, name, before, after, test, p_value, p_value <= alpha)
        for (bucket, name, before, after, test, _), p_value in zip(tested, adjusted, strict=True)
    ]
    differences.sort(key=lambda difference: (difference.bucket, difference.field))
    return Comparison(differences=tuple(differences), alpha=float(alpha))


# --------------------------------------------------------------------------------------------
# Building fingerprints
# --------------------------------------------------------------------------------------------


def relation_fingerprint(verdict: Verdict) -> Fingerprint:
    """The fingerprint of a teacher–student relation: every adversary's advantage per bucket.

    Args:
        verdict: the verdict of :func:`~pytest_bbi.assert_indistinguishable`.

    Returns:
        A ``"relation"`` fingerprint with one ``"advantage:<adversary>"`` field per adversary
        and bucket (adversaries that timed out unscored are left out, and so are buckets where
        every adversary did); metadata: seed, mode, ε, α and queries. A verdict with a
        calibration report adds, per bucket, ``"calibration:agreement"`` (a proportion) and
        ``"calibration:confidence"`` (the mean of the student's mean token log-probabilities),
        and the recommended fallback thresholds to the metadata (recorded for review, not
        compared: a threshold is chosen from the data).
    """
    statistics: dict[str, dict[str, dict[str, Any]]] = {
        bucket: {
            f"advantage:{name}": advantage_field(
                result.correct, result.total, result.advantage, result.lower, result.upper
            )
            for name, result in outcome.adversaries.items()
            if result.total > 0
        }
        for bucket, outcome in verdict.buckets.items()
    }
    metadata: dict[str, Any] = {
        "seed": verdict.seed,
        "mode": verdict.mode,
        "epsilon": verdict.epsilon,
        "alpha": verdict.alpha,
        "queries": verdict.queries,
    }
    thresholds: dict[str, Any] = {}
    for bucket, outcome in verdict.buckets.items():
        calibration = outcome.calibration
        if calibration is None:
            continue
        statistics[bucket]["calibration:agreement"] = proportion_field(
            calibration.agreeing, calibration.samples
        )
        statistics[bucket]["calibration:confidence"] = {
            "type": "mean",
            "mean": calibration.confidence,
            "sd": calibration.confidence_sd,
            "n": calibration.samples,
        }
        thresholds[bucket] = {
            "threshold": None if calibration.threshold is None else _round(calibration.threshold),
            "coverage": _round(calibration.coverage),
            "target": calibration.target,
            "rule": calibration.rule,
        }
    if thresholds:
        metadata["calibration"] = thresholds
    return Fingerprint(
        kind="relation",
        statistics={bucket: fields for bucket, fields in statistics.items() if fields},
        metadata=metadata,
    )


def _is_list(text: str) -> bool:
    return len(_LIST_ITEM.findall(text)) >= 2


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        return isinstance(json.loads(stripped), dict | list)
    except ValueError:
        return False


def _is_code(text: str) -> bool:
    return "```" in text or _INDENTED_CODE.search(text) is not None


def output_statistics(
    completions: Sequence[str], prompts: Sequence[str], similarities: Sequence[float] | None
) -> dict[str, dict[str, Any]]:
    """The fields of a ``"model"`` fingerprint for one bucket's completions.

    Fields: ``length_chars`` and ``length_words`` (means); ``refusal`` (proportion of
    completions with a refusal phrase: "I can't", "I cannot", "I'm sorry", "As an AI",
    "I won't", "I am unable", …, any case); ``format:list`` (at least two bullet or numbered
    lines), ``format:json`` (the stripped text parses as a JSON object or array),
    ``format:code`` (a ````` fence or a 4-space-indented line) and ``format:question`` (ends
    with "?"), all proportions; and, with ``similarities``, ``prompt_similarity``, the mean
    cosine similarity of each completion's embedding to its prompt's.

    Args:
        completions: the bucket's completions, at least one.
        prompts: the prompt of each completion, aligned with ``completions``.
        similarities: each completion's cosine similarity to its prompt, aligned, or ``None``.

    Returns:
        Field name → field record.

    Raises:
        ValueError: when there are no completions or the sequences are not aligned.
    """
    n = len(completions)
    if n == 0:
        raise ValueError("output_statistics needs at least one completion")
    if len(prompts) != n or (similarities is not None and len(similarities) != n):
        raise ValueError(
            f"output_statistics got {n} completions, {len(prompts)} prompts and "
            f"{'no' if similarities is None else len(similarities)} similarities; align them"
        )
    fields: dict[str, dict[str, Any]] = {
        "length_chars": mean_field([len(text) for text in completions]),
        "length_words": mean_field([len(text.split()) for text in completions]),
        "refusal": proportion_field(sum(bool(_REFUSAL.search(t)) for t in completions), n),
        "format:list": proportion_field(sum(map(_is_list, completions)), n),
        "format:json": proportion_field(sum(map(_is_json, completions)), n),
        "format:code": proportion_field(sum(map(_is_code, completions)), n),
        "format:question": proportion_field(
            sum(text.rstrip().endswith("?") for text in completions), n
        ),
    }
    if similarities is not None:
        fields["prompt_similarity"] = mean_field([float(value) for value in similarities])
    return fields
