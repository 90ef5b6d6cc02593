"""The relation fingerprint: a verdict's advantages (and calibration) per bucket, as a document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_bbi.fingerprints.document import (
    Fingerprint,
    advantage_field,
    proportion_field,
    rounded,
)

if TYPE_CHECKING:
    from pytest_bbi.verdict import Verdict


def relation_fingerprint(verdict: Verdict) -> Fingerprint:
    """The fingerprint of a teacher–student relation: every adversary's advantage per bucket.

    Args:
        verdict: the verdict of :func:`~pytest_bbi.assert_indistinguishable`.

    Returns:
        A ``"relation"`` fingerprint with one ``"advantage:<adversary>"`` field per adversary
        and bucket (adversaries that timed out unscored are left out, and so are buckets where
        every adversary did), each with the spread of the adversary's accuracy between fits
        (``fit_sd``, ``refits``: a new seed refits it, which moves its accuracy more than
        binomial noise), the mean accuracy over the fit and its refits with its spread over
        held-out pairs (``fits_accuracy``, ``fits_pair_sd``: what the comparison tests), and
        whether the game was sequential (such a count is not compared);
        metadata: seed, mode, ε, α and queries. A verdict with a
        calibration report adds, per bucket, ``"calibration:agreement"`` (a proportion) and
        ``"calibration:confidence"`` (the mean of the student's mean token log-probabilities),
        and the recommended fallback thresholds to the metadata (recorded for review, not
        compared: a threshold is chosen from the data).
    """
    statistics: dict[str, dict[str, dict[str, Any]]] = {
        bucket: {
            f"advantage:{name}": advantage_field(
                result.correct,
                result.total,
                result.advantage,
                result.lower,
                result.upper,
                fit_sd=result.fit_sd,
                refits=result.refits,
                sequential=verdict.sequential,
                fits_accuracy=result.fits_accuracy,
                fits_pair_sd=result.fits_pair_sd,
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
            "threshold": None if calibration.threshold is None else rounded(calibration.threshold),
            "coverage": rounded(calibration.coverage),
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
