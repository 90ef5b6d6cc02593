"""Relation fingerprints that don't cry wolf: a refitted adversary's spread between fits counts.

A new seed refits each learned adversary, and its accuracy moves more than binomial noise.
The game measures that spread by refits on resampled training pairs, records it in the
advantage field, and the comparison adds it to the binomial noise (issue 15, must-show 6).
"""

import math

import pytest
from scripted import PROMPTS, teacher_fn, tic_fn

import pytest_bbi as bbi
from pytest_bbi.fingerprints import Fingerprint, FingerprintError, compare, relation_fingerprint
from pytest_bbi.fingerprints.compare import _two_proportions
from pytest_bbi.fingerprints.document import advantage_field
from pytest_bbi.game.refits import REFITS, fit_variance
from pytest_bbi.models import from_callable

ALPHA = 0.05
TEACHER = from_callable(teacher_fn, name="teacher")
TIC = from_callable(lambda prompt, seed: tic_fn(prompt, seed, rate=0.6), name="tic-student")


class FewExamples:
    """A custom adversary that learns from its first ``examples`` training pairs only (its
    work cap): the words the student used and the teacher did not. Whether those few pairs
    show the student's tic decides whether this fit finds it, so its accuracy varies from
    fit to fit far more than binomial noise: the case a plain two-proportion test gets wrong.
    """

    name = "few-examples"

    def __init__(self, examples=2):
        self.examples = examples

    def decide(self, train, trials, deadline):
        words = set()
        for pair in train[: self.examples]:
            words |= set(pair.student.split()) - set(pair.teacher.split())

        def student_words(text):
            return sum(word in words for word in text.split())

        calls = []
        for trial in trials:
            first, second = student_words(trial.first), student_words(trial.second)
            calls.append(0.5 + 0.5 * ((second > first) - (second < first)))
        return calls


class Fixed(FewExamples):
    """The same rule with a fixed word list: it does not learn, and says so."""

    name = "fixed"
    learns = False

    def decide(self, train, trials, deadline):
        return super().decide([], trials, deadline)


def _relation(seed, adversary=None, sequential=False):
    budget = bbi.Budget(
        queries=200, adversaries=[adversary or FewExamples()], sequential=sequential
    )
    try:
        verdict = bbi.assert_indistinguishable(
            TEACHER, TIC, PROMPTS, budget=budget, epsilon=0.1, seed=seed
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    return relation_fingerprint(verdict)


def test_same_models_at_new_seeds_show_a_false_change_at_most_alpha_over_200_seed_pairs():
    """Must-show 6b: 200 seed pairs of the same models through the real game. The binomial
    test alone (the old comparison) flags about a sixth of them on the same fingerprints."""
    pairs = [(_relation(10_000 + 2 * pair), _relation(10_001 + 2 * pair)) for pair in range(200)]
    false_changes = sum(not compare(old, new, alpha=ALPHA).equal for old, new in pairs)
    bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / len(pairs))
    assert false_changes / len(pairs) <= bound
    binomial_only = 0
    for old, new in pairs:
        before = old.statistics["all"]["advantage:few-examples"]
        after = new.statistics["all"]["advantage:few-examples"]
        test = _two_proportions(
            before["correct"], before["total"], after["correct"], after["total"]
        )
        binomial_only += test[1] <= ALPHA
    assert binomial_only / len(pairs) > bound  # what the fit spread corrects
    spreads = [old.statistics["all"]["advantage:few-examples"] for old, _ in pairs]
    assert all(record["refits"] == REFITS and not record["sequential"] for record in spreads)
    assert sum(record["fit_sd"] > 0 for record in spreads) > 100


def test_an_adversary_that_does_not_learn_is_not_refitted_and_compared_binomially():
    old, new = _relation(1, Fixed()), _relation(2, Fixed())
    record = old.statistics["all"]["advantage:fixed"]
    assert (record["fit_sd"], record["refits"]) == (0.0, 0)
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
