"""Comparing two fingerprints: per-field tests, Holm-corrected, and the differences found."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scipy import stats as _sps

from pytest_bbi.errors import BudgetError, FingerprintError
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
        spread = record.get("fit_sd")
        fits = f", fit sd {_number(spread)}" if spread else ""
        mean = record.get("fits_accuracy")
        if mean is not None:
            fits += f", accuracy {_number(mean)} over {record['refits'] + 1} fits"
        count = f"{record['correct']}/{record['total']}"
        return f"advantage {_number(record['advantage'])} ({count}{fits})"
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
            ``"Welch t-test"``, ``"zero-variance comparison"``, or for advantages
            ``"t-test of the accuracy over fits"`` and, for documents before version 3,
            ``"t-test with between-fit variance"``), or ``"structure"`` when the field exists
            in only one fingerprint or changed type.
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


def _fit_spread(record: Mapping[str, Any]) -> tuple[float, float] | None:
    """(between-fit variance, its degrees of freedom) of an advantage, or None if unmeasured."""
    spread = record.get("fit_sd")
    if spread is None:
        return None
    refits = int(record.get("refits", 0))
    return float(spread) ** 2, math.inf if refits < 2 else float(refits - 1)


def _over_fits(record: Mapping[str, Any]) -> bool:
    """Whether an advantage records its mean accuracy over fits (version 3, refits measured)."""
    return (
        record.get("fits_accuracy") is not None
        and record.get("fits_pair_sd") is not None
        and record.get("fit_sd") is not None
        and int(record.get("refits", 0)) >= 2
        and int(record["total"]) >= 2
    )


def _two_fit_means(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, float]:
    """Two-sided t-test of equal mean accuracy over fits (see :func:`_two_advantages`)."""
    terms = [
        (float(record["fits_pair_sd"]) ** 2 / record["total"], record["total"] - 1)
        for record in (old, new)
    ] + [(float(record["fit_sd"]) ** 2, record["refits"] - 1) for record in (old, new)]
    variance = sum(term for term, _ in terms)
    difference = float(old["fits_accuracy"]) - float(new["fits_accuracy"])
    test = "t-test of the accuracy over fits"
    if variance == 0.0:
        return test, 1.0 if difference == 0.0 else 0.0
    df = variance**2 / sum(term**2 / degrees for term, degrees in terms if term > 0)
    statistic = abs(difference) / math.sqrt(variance)
    return test, float(min(1.0, 2.0 * _sps.t.sf(statistic, df)))


def _two_advantages(
    bucket: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[str, float]:
    """Two-sided test of equal expected accuracy, binomial noise and between-fit spread both.

    A new seed refits the adversary, so its accuracy moves with the fit besides the binomial
    noise of its held-out pairs. When both records carry the mean accuracy over the fit and
    its refits (version 3), that mean is compared: with B the mean, s the standard deviation
    over the n held-out pairs of the share of fits right on a pair, and σ̂² the between-fit
    variance (``fit_sd``², R refits),

        t = (B₁ − B₂) / √(s₁²/n₁ + s₂²/n₂ + σ̂₁² + σ̂₂²),

    referred to Student's t with Welch–Satterthwaite degrees of freedom (n − 1 for each
    held-out term, R − 1 for each fit term). Under "same models" both runs are draws of the
    same process, B₁ − B₂ has mean 0, and the denominator estimates an upper bound of its
    variance: the held-out terms without bias (given the fits, the held-out pairs are
    independent draws), the fit terms from above (the mean of R + 1 fits varies at most as
    much as one fit, whose variance the bootstrap refits estimate;
    :mod:`pytest_bbi.game.refits`). Averaging over fits also makes B nearly normal where one
    fit's accuracy is two-valued (the fit finds the signal or misses it), which is where a t
    approximation of one fit's count broke. Measured through the real game, the false-change
    rate is at or below α for a learner with a two-valued accuracy and one with a continuous
    spread (bench/ENGINE.md), with more power than the version-2 rule.

    A record without that mean (version 1 or 2, a refit that overran, an adversary that does
    not learn) is compared by its single fit's count, as version 2 did: binomial variance
    p̄(1 − p̄)(1/n₁ + 1/n₂) plus 2·Var(p_f), Var(p_f) the larger of the two sides' between-fit
    variances (one side's when only one recorded it), referred to Student's t with its refits
    − 1 degrees of freedom; the larger of two because the plain sum gave 6.8% false changes at
    α = 5% for a two-valued accuracy, and the larger still gave 6.0% on the 200 seed pairs of
    tests/unit/test_relation_refits.py (4.7% on 1200), which is why version 3 compares the
    mean over fits. When neither side recorded a spread, or the adversary does not learn, the
    binomial test of :func:`_two_proportions` applies, and says so.

    Raises:
        FingerprintError: when either count came from a sequential game, which stops at a
            data-dependent time and refits between rounds: such counts are not binomial and
            have no valid comparison here.
    """
    if old.get("sequential") or new.get("sequential"):
        raise FingerprintError(
            f"{bucket}/{name}: an advantage counted in a sequential game (Budget(sequential="
            "True)) cannot be compared: the game stops at a time set by the data and refits "
            "the adversary between rounds, so its count is not binomial. Snapshot a fixed-n "
            "game's verdict (Budget(sequential=False)), or drop the advantage field."
        )
    if _over_fits(old) and _over_fits(new):
        return _two_fit_means(old, new)
    k1, n1, k2, n2 = old["correct"], old["total"], new["correct"], new["total"]
    spreads = [_fit_spread(old), _fit_spread(new)]
    known = [spread for spread in spreads if spread is not None]
    if not known:
        test, p_value = _two_proportions(k1, n1, k2, n2)
        return f"{test} (no between-fit spread recorded)", p_value
    fit_variance, degrees = max(known)
    if fit_variance == 0.0 and math.isinf(degrees):
        return _two_proportions(k1, n1, k2, n2)  # no learning: counts are binomial
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2) + 2.0 * fit_variance
    difference = k1 / n1 - k2 / n2
    if variance == 0.0:
        return "t-test with between-fit variance", 1.0 if difference == 0.0 else 0.0
    spread_term = (2.0 * fit_variance) ** 2 / degrees
    df = variance**2 / spread_term if spread_term > 0 else math.inf
    statistic = abs(difference) / math.sqrt(variance)
    tail = _sps.norm.sf(statistic) if math.isinf(df) else _sps.t.sf(statistic, df)
    return "t-test with between-fit variance", float(min(1.0, 2.0 * tail))


def _raw_test(
    bucket: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[str, float]:
    kind = old["type"]
    if kind == "proportion":
        return _two_proportions(old["k"], old["n"], new["k"], new["n"])
    if kind == "mean":
        return _two_means(old, new)
    return _two_advantages(bucket, name, old, new)


def compare(old: Fingerprint, new: Fingerprint, *, alpha: float = 0.05) -> Comparison:
    """Test, field by field, whether two fingerprints describe the same underlying behavior.

    Every field present in both gets a two-sided test of "same underlying value": proportions a
    two-proportion test (Fisher's exact test on the 2×2 table; a pooled z-test past
    :data:`FISHER_MAX_TOTAL` draws), means Welch's t-test from the summary statistics (two
    zero-variance samples differ exactly when their means do), and advantages a t-test of the
    adversary's mean accuracy over its fit and refits, whose variance counts both the held-out
    pairs and the spread between fits (a new seed refits it; see :func:`_two_advantages`).
    The p-values are Holm-adjusted over all tested fields, so two fingerprints of the same
    behavior (e.g. the same model under different seeds) show a significant difference with
    probability at most α. A different kind, or a bucket or field present in only one
    fingerprint, is a structural difference: p = 0, always significant.

    Args:
        old: the reference fingerprint (e.g. the stored snapshot).
        new: the fingerprint under test.
        alpha: the family-wise error rate, in (0, 1).

    Returns:
        The comparison; ``comparison.equal`` is the verdict, ``comparison.report()`` the diff.

    Raises:
        BudgetError: when α is outside (0, 1).
        FingerprintError: when an advantage field in both came from a sequential game.
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
                test, p_value = _raw_test(bucket, name, before, after)
                tested.append((bucket, name, before, after, test, min(1.0, max(0.0, p_value))))
    adjusted = holm_adjusted([row[5] for row in tested])
    differences = structural + [
        FieldDifference(bucket, name, before, after, test, p_value, p_value <= alpha)
        for (bucket, name, before, after, test, _), p_value in zip(tested, adjusted, strict=True)
    ]
    differences.sort(key=lambda difference: (difference.bucket, difference.field))
    return Comparison(differences=tuple(differences), alpha=float(alpha))
