"""Relation fingerprints that don't cry wolf: a refitted adversary's spread between fits counts.

A new seed refits each learned adversary, and its accuracy moves more than binomial noise.
The game refits it on resampled training pairs and records the mean accuracy over the fit and
its refits with its spread; the comparison tests that mean with a variance that bounds both the
held-out noise and the spread between fits (issue 15, must-show 6).
"""

import json

import pytest
from relation_learners import FewExamples, WordWeights, as_version_2, relation, tic_student

from pytest_bbi.fingerprints import Fingerprint, FingerprintError, compare
from pytest_bbi.fingerprints.compare import _two_proportions
from pytest_bbi.fingerprints.document import advantage_field
from pytest_bbi.game.refits import REFITS, fit_variance, fits_summary

ALPHA = 0.05
TIC = tic_student(0.6)
FIELD = "advantage:few-examples"


class Fixed(FewExamples):
    """The same rule with a fixed word list: it does not learn, and says so."""

    name = "fixed"
    learns = False

    def decide(self, train, trials, deadline):
        return super().decide([], trials, deadline)


def _relation(seed, adversary=None, sequential=False, student=TIC):
    return relation(seed, adversary or FewExamples(), student, sequential=sequential)


def _flagged(pairs):
    return sum(not compare(old, new, alpha=ALPHA).equal for old, new in pairs)


@pytest.fixture(scope="module")
def same_models():
    """200 seed pairs of the same models through the real game (400 games, ~10 s)."""
    return [(_relation(10_000 + 2 * pair), _relation(10_001 + 2 * pair)) for pair in range(200)]


def test_same_models_at_new_seeds_show_a_false_change_at_most_alpha_over_200_seed_pairs(
    same_models,
):
    """Must-show 6b: at most α of 200 seed pairs flagged, for a learner whose single fit has a
    two-valued accuracy (finds the tic or misses it): 9 of them. By design, not by luck: on
    1000 pairs the rate is 0.027 (bench/ENGINE.md). The binomial test alone flags about a
    sixth of them, and the version-2 rule (one fit's count) 12 of these 200 (6%)."""
    false_changes = _flagged(same_models)
    assert false_changes / len(same_models) <= ALPHA
    binomial_only = 0
    for old, new in same_models:
        before, after = old.statistics["all"][FIELD], new.statistics["all"][FIELD]
        test = _two_proportions(
            before["correct"], before["total"], after["correct"], after["total"]
        )
        binomial_only += test[1] <= ALPHA
    assert binomial_only / len(same_models) > 3 * ALPHA  # what the fit spread corrects
    records = [old.statistics["all"][FIELD] for old, _ in same_models]
    assert all(record["refits"] == REFITS and not record["sequential"] for record in records)
    assert sum(record["fit_sd"] > 0 for record in records) > 100
    [difference] = compare(*same_models[0]).differences
    assert difference.test == "t-test of the accuracy over fits"


def test_a_real_change_is_flagged_at_least_as_often_as_by_the_version_2_rule(same_models):
    """Power kept: the tic rate halved (0.6 → 0.3), 50 seed pairs (50 more games); the mean
    over fits flags 12, one fit's count (version 2) 6. On 1000 pairs: 0.174 against 0.109
    (bench/ENGINE.md)."""
    moved = [
        (old, _relation(20_000 + pair, student=tic_student(0.3)))
        for pair, (old, _) in enumerate(same_models[:50])
    ]
    version_2 = [(as_version_2(old), as_version_2(new)) for old, new in moved]
    assert _flagged(moved) > _flagged(version_2) >= 5


@pytest.mark.replication
def test_a_learner_with_a_continuous_spread_shows_a_false_change_at_most_alpha():
    """The rule is not fitted to the two-valued learner: 200 seed pairs of a learner whose
    accuracy moves from fit to fit by degrees (~15 s; 0.024 on 1000 pairs in bench/ENGINE.md)."""
    pairs = [
        (_relation(60_000 + 2 * pair, WordWeights()), _relation(60_001 + 2 * pair, WordWeights()))
        for pair in range(200)
    ]
    assert _flagged(pairs) / len(pairs) <= ALPHA
    records = [old.statistics["all"]["advantage:word-weights"] for old, _ in pairs]
    assert sum(record["fit_sd"] > 0 for record in records) > 100


def test_an_adversary_that_does_not_learn_is_not_refitted_and_compared_binomially():
    old, new = _relation(1, Fixed()), _relation(2, Fixed())
    record = old.statistics["all"]["advantage:fixed"]
    assert (record["fit_sd"], record["refits"], record["fits_accuracy"]) == (0.0, 0, None)
    [difference] = compare(old, new, alpha=ALPHA).differences
    assert difference.test in ("Fisher's exact test", "pooled z-test")


def test_fit_variance_removes_the_disagreement_a_larger_held_out_set_averages_away():
    # Two fits, each right on 3 of 4 pairs but on different pairs: the same accuracy.
    assert fit_variance([[True, True, True, False], [False, True, True, True]]) == 0.0
    # Half the fits find the signal (right everywhere), half miss it (right on half).
    found, missed = [True] * 8, [True, False] * 4
    spread = fit_variance([found, missed, found, missed])
    accuracies_variance = 0.25**2 * 4 / 3  # s² of (1, 0.5, 1, 0.5)
    pair_term = 4 * (0.25 * 4 / 3) / 8**2  # four pairs where half the fits are right
    assert spread == pytest.approx(accuracies_variance - pair_term)


def test_fits_summary_is_the_mean_share_of_fits_right_and_its_spread_over_pairs():
    shares = [1.0, 0.5, 0.0, 0.5]  # per pair: both fits right, one, none, one
    mean, sd = fits_summary([[True, True, False, False], [True, False, False, True]])
    assert mean == 0.5
    assert sd == pytest.approx((sum((share - 0.5) ** 2 for share in shares) / 3) ** 0.5)


def _over_fits(accuracy, pair_sd, fit_sd, total=100, refits=4):
    field = advantage_field(
        min(60, total),
        total,
        0.2,
        0.05,
        0.35,
        fit_sd=fit_sd,
        refits=refits,
        fits_accuracy=accuracy,
        fits_pair_sd=pair_sd,
    )
    return Fingerprint("relation", {"all": {FIELD: field}}, {})


def test_the_mean_over_fits_is_tested_with_held_out_and_between_fit_variance_both():
    # 0.6 vs 0.7: the held-out terms alone (sd 0.2 over 100 pairs: 0.028 per side) flag it,
    [narrow] = compare(_over_fits(0.6, 0.2, 0.0), _over_fits(0.7, 0.2, 0.0)).differences
    assert narrow.test == "t-test of the accuracy over fits"
    assert narrow.significant
    # the between-fit spread of both sides (sd 0.06 each) widens the test past the difference,
    [wide] = compare(_over_fits(0.6, 0.2, 0.06), _over_fits(0.7, 0.2, 0.06)).differences
    assert not wide.significant
    # and the counts of the single fits (60/100 on both sides) do not enter.
    [same] = compare(_over_fits(0.65, 0.2, 0.06), _over_fits(0.65, 0.2, 0.0)).differences
    assert same.p_value == 1.0
    text = compare(_over_fits(0.6, 0.2, 0.06), _over_fits(0.7, 0.2, 0.06)).report()
    assert "advantage 0.2 (60/100, fit sd 0.06, accuracy 0.6 over 5 fits) → 0.2 (60/100" in text
    [constant] = compare(_over_fits(1.0, 0.0, 0.0), _over_fits(0.9, 0.0, 0.0)).differences
    assert constant.p_value == 0.0
    # One held-out pair (only in a hand-edited file) or one refit has no spread to estimate:
    # such a record is compared by its count, as version 2 did.
    for unestimable in (_over_fits(0.6, 0.2, 0.05, total=1), _over_fits(0.6, 0.2, 0.05, refits=1)):
        [difference] = compare(unestimable, _over_fits(0.6, 0.2, 0.05)).differences
        assert difference.test == "t-test with between-fit variance"


def test_a_version_2_snapshot_reads_and_compares_by_its_single_fits_count(same_models):
    """Old snapshots still compare: a version-2 record has no mean over fits, so both sides
    are compared by the single fit's count with the between-fit variance, as version 2 did."""
    old, new = same_models[0]
    document = json.loads(as_version_2(old).to_json())
    document["version"] = 2
    snapshot = Fingerprint.from_json(json.dumps(document))
    assert json.loads(new.to_json())["version"] == 3
    [difference] = compare(snapshot, new).differences
    assert difference.test == "t-test with between-fit variance"
    assert compare(snapshot, new).equal == compare(as_version_2(old), new).equal


def _one_field(**record):
    field = advantage_field(60, 100, 0.2, 0.05, 0.35, **record)
    return Fingerprint("relation", {"all": {"advantage:few-examples": field}}, {})


def test_the_larger_spread_widens_the_test_and_an_unmeasured_side_borrows_it():
    unmeasured = _one_field()
    wide = _one_field(fit_sd=0.1, refits=4)
    moved = Fingerprint(
        "relation",
        {"all": {"advantage:few-examples": advantage_field(75, 100, 0.5, 0.3, 0.65)}},
        {},
    )
    [binomial] = compare(unmeasured, moved).differences
    [with_spread] = compare(wide, moved).differences
    assert binomial.test == "Fisher's exact test (no between-fit spread recorded)"
    assert with_spread.test == "t-test with between-fit variance"
    assert binomial.significant
    assert not with_spread.significant
    assert "advantage 0.2 (60/100, fit sd 0.1) → 0.5 (75/100)" in compare(wide, moved).report()
    [both_zero] = compare(_one_field(fit_sd=0.0, refits=4), wide).differences
    assert both_zero.p_value == 1.0


def test_counts_from_a_sequential_game_are_refused_with_the_fix():
    sequential = _one_field(fit_sd=0.02, refits=4, sequential=True)
    with pytest.raises(FingerprintError, match=r"all/advantage:few-examples: .*sequential game"):
        compare(_one_field(fit_sd=0.02, refits=4), sequential)
    with pytest.raises(FingerprintError, match=r"Budget\(sequential=False\)"):
        compare(sequential, sequential)


def test_a_sequential_game_marks_its_advantage_fields_and_measures_no_spread():
    record = _relation(3, sequential=True).statistics["all"]["advantage:few-examples"]
    assert record["sequential"] is True
    assert (record["fit_sd"], record["fits_accuracy"], record["fits_pair_sd"]) == (None,) * 3


def test_a_version_1_document_without_spread_still_reads_and_compares():
    text = (
        '{"kind": "relation", "metadata": {}, "schema": "pytest-bbi/fingerprint", '
        '"statistics": {"all": {"advantage:few-examples": {"type": "advantage", "correct": 60, '
        '"total": 100, "advantage": 0.2, "lower": 0.05, "upper": 0.35}}}, "version": 1}'
    )
    old = Fingerprint.from_json(text)
    [difference] = compare(old, _one_field(fit_sd=0.05, refits=4)).differences
    assert difference.test == "t-test with between-fit variance"
    assert not difference.significant


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("fits_accuracy", 1.5, r"fits_accuracy must lie in \[0, 1\], got 1.5"),
        ("fits_pair_sd", -0.1, r"fits_pair_sd must be ≥ 0 or null"),
    ],
)
def test_a_mean_over_fits_out_of_range_is_refused(key, value, message):
    document = json.loads(_over_fits(0.6, 0.2, 0.05).to_json())
    document["statistics"]["all"][FIELD][key] = value
    with pytest.raises(FingerprintError, match=message):
        Fingerprint.from_json(json.dumps(document), source="snap.json")
