"""Comparing two fingerprints: per-field tests, Holm-corrected, and the differences found."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scipy import stats as _sps

from pytest_bbi.errors import BudgetError
from pytest_bbi.fingerprints.document import FISHER_MAX_TOTAL, Z_TEST_MIN_EXPECTED, Fingerprint
from pytest_bbi.stats import holm_adjusted
from pytest_bbi.text import encodable


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
        r"""A readable diff: a headline, then significant differences, then the others.

        Returns:
            Lines like ``style/length_chars: mean 42.1 → 57.3 (Welch t-test, p=0.0003 after
            Holm)``; a bucket present in only one fingerprint gets one line, and added, removed
            or retyped fields say so. A lone surrogate in a name is written as its ``\udXXX``
            escape (:func:`pytest_bbi.text.encodable`), so the text can be printed anywhere.
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
        return encodable("\n".join(lines))  # a bucket or field name may hold any str


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
