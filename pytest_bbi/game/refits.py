"""How much a fitted adversary's accuracy moves between fits: refits on resampled training pairs.

A learned adversary's held-out accuracy k/n varies from seed to seed for two reasons: the
held-out pairs (binomial noise, p(1 − p)/n) and the fit itself (another seed draws other
training pairs, and the fitted adversary is a little better or worse: its true accuracy p_f
varies). A relation fingerprint compared by a binomial test alone ignores the second and
flags "changes" between two runs of the same models far more often than α. So, after an
adversary is scored, the core refits it :data:`REFITS` times on bootstrap resamples of its
training pairs and scores each refit on the same held-out pairs (Efron's bootstrap of the
training set stands for a fresh training set of the same size). With a_r the accuracy of
refit r and c_rx ∈ {0, 1} whether it called pair x right,

    Var(p_f) ≈ s²(a_1 … a_R) − (1/n²) Σ_x v_x,

where s² is the sample variance over refits and v_x = R/(R − 1)·q_x(1 − q_x), q_x the share of
refits right on pair x, removes the pair-level disagreement between fits that a larger held-out
set would average away (floored at 0): ``fit_variance``, with R − 1 degrees of freedom.

What a relation fingerprint compares is not the one fit's k/n but the mean accuracy over the
fit and its R refits, B = (1/n) Σ_x c̄_x with c̄_x the share of those R + 1 fits right on pair x
(``fits_accuracy``), with the standard deviation of c̄_x over the held-out pairs
(``fits_pair_sd``). One fit of an adversary that sometimes finds the signal and sometimes
misses it has a two-valued accuracy, and the difference of two such accuracies is far from
normal: a test that refers it to a normal (or t) law flags more than α of the seed pairs even
with the true variance. B averages that lottery over R + 1 fits, and its seed-to-seed variance
has a bound that each run estimates: Var(B) = E[Var(B | fits)] + Var(E[B | fits]); given the
fits, the held-out pairs are independent draws, so the first term is Var(c̄_x)/n, estimated by
``fits_pair_sd``²/n; the second is the variance of a mean of R + 1 fits' true accuracies,
at most the largest of theirs (a mean varies at most as much as its most variable term),
which ``fit_variance`` estimates. The comparison (:func:`pytest_bbi.fingerprints.compare.compare`)
uses that bound, which overstates the fit part by up to R + 1 times when the fits are
independent, so its false-change rate stays at or below α for both kinds of learner (the
measurements are in bench/ENGINE.md).

Refits are seeded (run seed, adversary, bucket, round, refit) and every built-in adversary
has a deterministic work cap, so they are as reproducible as the score itself. They run only
in games of one round (a sequential game refits between rounds and stops early: its counts are
not compared) and never for an adversary that declares ``learns = False``. A refit that
overruns the safety limit leaves the spread unmeasured; it never changes the score.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from dataclasses import replace

from pytest_bbi.adversaries import Adversary, AdversaryTimeout, Deadline
from pytest_bbi.adversaries.base import learns
from pytest_bbi.game.play import Game, Score
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.verdict import AdversaryResult

REFITS = 4
"""Refits per adversary and bucket: a between-fit variance with 3 degrees of freedom (the
comparison accounts for them) and a mean accuracy over 5 fits, at four times the adversary's
fitting cost."""


def with_fit_spread(
    score: Score,
    adversary: Adversary,
    game: Game,
    seconds: float | None,
    run_seed: int,
    stratum: str = "",
    round_index: int = 0,
    refits: int = REFITS,
) -> Score:
    """The score with the spread of its adversary's held-out accuracy between fits.

    Args:
        score: the adversary's score on ``game`` (left as it is when it overran or has no
            held-out pair).
        adversary: the adversary.
        game: the game it was scored on.
        seconds: the safety limit of each refit.
        run_seed: the run seed.
        stratum: the bucket.
        round_index: the round.
        refits: how many refits, at least 2.

    Returns:
        The score with ``refits``, ``fit_variance``, ``fits_accuracy`` and ``fits_pair_sd``
        set (0, 0.0 and no mean for an adversary that does not learn, no mean for a single
        held-out pair; unchanged when a refit overran).
    """
    if score.timed_out or score.total == 0:
        return score
    if not learns(adversary):
        return replace(score, refits=0, fit_variance=0.0)
    calls: list[list[bool]] = []
    for refit in range(1, refits + 1):
        purpose = f"refit:{adversary.name}:{round_index}"
        rng = random.Random(derive_seed(run_seed, purpose, stratum, refit))
        train = [rng.choice(game.train) for _ in game.train] if game.train else []
        deadline = Deadline(seconds)
        try:
            answer = adversary.decide(train, game.trials(), deadline)
        except AdversaryTimeout:
            return score
        if deadline.expired():
            return score
        coin = random.Random(derive_seed(run_seed, f"ties:{purpose}", stratum, refit))
        calls.append(
            [
                (coin.random() < 0.5 if float(p) == 0.5 else float(p) > 0.5) == teacher_first
                for p, teacher_first in zip(answer, game.first_is_teacher, strict=True)
            ]
        )
    measured = replace(score, refits=refits, fit_variance=fit_variance(calls))
    if score.total < 2:  # one held-out pair: no spread over pairs to measure
        return measured
    accuracy, pair_sd = fits_summary([list(score.calls), *calls])
    return replace(measured, fits_accuracy=accuracy, fits_pair_sd=pair_sd)


def fit_variance(calls: list[list[bool]]) -> float:
    """The between-fit variance of held-out accuracy, from each refit's calls on each pair.

    Args:
        calls: per refit (at least 2), per held-out pair (the same pairs, at least 1), whether
            the refit called it right.

    Returns:
        s² of the refits' accuracies minus the pair-level term (see the module docstring),
        floored at 0.
    """
    refits, pairs = len(calls), len(calls[0])
    accuracies = [sum(row) / pairs for row in calls]
    pair_terms = 0.0
    for column in zip(*calls, strict=True):
        share = sum(column) / refits
        pair_terms += share * (1.0 - share) * refits / (refits - 1)
    return max(0.0, statistics.variance(accuracies) - pair_terms / pairs**2)


def fits_summary(calls: list[list[bool]]) -> tuple[float, float]:
    """The mean held-out accuracy over several fits, and its spread over held-out pairs.

    Args:
        calls: per fit (at least 1), per held-out pair (the same pairs, at least 2), whether
            the fit called it right.

    Returns:
        (the mean over pairs of c̄_x, the sample standard deviation over pairs of c̄_x), with
        c̄_x the share of the fits right on pair x.
    """
    shares = [sum(column) / len(calls) for column in zip(*calls, strict=True)]
    return statistics.fmean(shares), statistics.stdev(shares)


def with_measurements(
    results: Mapping[str, AdversaryResult], scores: Mapping[str, Mapping[str, Score]]
) -> dict[str, AdversaryResult]:
    """Each result with its fit spread and overrun reason, for the verdict.

    Args:
        results: adversary → its result, in one bucket or pooled over ``scores``' buckets.
        scores: bucket → adversary → its score there.

    Returns:
        The results with ``overrun`` filled in (each bucket's reason, named by its bucket when
        there are several) and, for one bucket, ``refits``, ``fit_sd``, ``fits_accuracy`` and
        ``fits_pair_sd``.
    """
    measured: dict[str, AdversaryResult] = {}
    for name, result in results.items():
        per_bucket = {bucket: by_name[name] for bucket, by_name in scores.items()}
        overruns = [
            score.overrun if len(per_bucket) == 1 else f"{bucket}: {score.overrun}"
            for bucket, score in per_bucket.items()
            if score.overrun is not None
        ]
        measured[name] = replace(result, overrun="; ".join(overruns) or None)
        if len(per_bucket) == 1:
            [score] = per_bucket.values()
            variance = score.fit_variance
            measured[name] = replace(
                measured[name],
                refits=score.refits,
                fit_sd=None if variance is None else variance**0.5,
                fits_accuracy=score.fits_accuracy,
                fits_pair_sd=score.fits_pair_sd,
            )
    return measured
