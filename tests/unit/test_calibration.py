"""game/calibration.py: the student's confidence against agreement, and the fallback threshold."""

import json
import math
import random

import jsonschema
import pytest
from scripted import PROMPTS, HedgingStudent, steady_fn, teacher_fn

import pytest_bbi as bbi
from pytest_bbi.game.calibration import Calibrate, agreements, auroc, calibration_report
from pytest_bbi.models import from_callable
from pytest_bbi.report import report_schema

TEACHER = from_callable(steady_fn, name="steady-teacher")
BUDGET = bbi.Budget(queries=200, adversaries=["stylometric"])


def test_auroc_ranks_agreeing_answers_above_disagreeing_ones():
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    assert auroc([0.3, 0.1, 0.2], [True, False, False]) == 1.0
    assert auroc([0.3, 0.3, 0.1], [True, False, False]) == 0.75  # a tie counts half
    assert auroc([0.1, 0.2], [True, True]) is None


def test_the_threshold_is_the_lowest_one_whose_served_answers_reach_the_target():
    # 200 answers: the 100 most confident all agree, the other 100 never do.
    confidences = [-index / 100 for index in range(200)]
    agreed = [index < 100 for index in range(200)]
    report = calibration_report(confidences, agreed, Calibrate(target=0.9, bins=4))
    assert report is not None
    assert report.threshold == confidences[99]  # serve the 50% most confident
    assert report.coverage == 0.5
    assert report.served_agreement == 1.0
    assert report.served_lower == pytest.approx(0.005 ** (1 / 100))
    assert report.agreement == 0.5
    assert report.auroc == 1.0
    assert [b.agreement for b in report.bins] == [0.0, 0.0, 1.0, 1.0]
    assert sum(b.samples for b in report.bins) == 200
    assert [round(p.coverage, 2) for p in report.operating_points] == [
        1.0,
        0.9,
        0.8,
        0.7,
        0.6,
        0.5,
        0.4,
        0.3,
        0.2,
        0.1,
    ]


def test_no_threshold_when_even_the_most_confident_answers_miss_the_target():
    confidences = [-index / 10 for index in range(40)]
    agreed = [index % 2 == 0 for index in range(40)]
    report = calibration_report(confidences, agreed, Calibrate(target=0.9))
    assert report is not None
    assert report.threshold is None
    assert report.coverage == 0.0
    assert report.served_agreement is None
    assert report.served_lower is None
    assert calibration_report([], [], Calibrate()) is None


def test_no_fallback_is_needed_when_every_answer_agrees():
    report = calibration_report([-0.5] * 60 + [-2.0] * 60, [True] * 120, Calibrate(target=0.9))
    assert report is not None
    assert report.threshold == -2.0
    assert report.coverage == 1.0
    assert report.auroc is None


def _true_served_agreement(threshold, slope, middle):
    """E[P(agree | c) | c ≥ threshold] for c ~ U(-5, 0) and P(agree | c) = σ(slope·(c − middle))."""

    def integral(c):
        return math.log1p(math.exp(slope * (c - middle))) / slope

    return (integral(0.0) - integral(threshold)) / (0.0 - threshold)


def test_a_recommended_threshold_misses_the_target_at_most_alpha_of_the_time():
    """Over seeded replications from a population with known agreement by confidence, the
    served answers' true agreement falls below the target in at most α (+3σ) of the runs where
    a threshold is recommended, and a threshold is recommended in most runs (power)."""
    slope, middle, target, alpha = 2.0, -3.0, 0.85, 0.1
    rule = Calibrate(target=target, alpha=alpha)
    replications, misses, recommended = 400, 0, 0
    for seed in range(replications):
        rng = random.Random(seed)
        confidences = [rng.uniform(-5.0, 0.0) for _ in range(300)]
        agreed = [rng.random() < 1 / (1 + math.exp(-slope * (c - middle))) for c in confidences]
        report = calibration_report(confidences, agreed, rule)
        if report.threshold is None:
            continue
        recommended += 1
        misses += _true_served_agreement(report.threshold, slope, middle) < target
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / replications)
    assert misses / replications <= bound, (misses, recommended)
    assert recommended >= 0.8 * replications


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"target": 0}, "target=0"),
        ({"target": 1.5}, "lies in \\(0, 1\\]"),
        ({"agreement": "fuzzy"}, "'embedding', 'exact', or a function"),
        ({"similarity": 2}, "cosine similarity lies in"),
        ({"alpha": 1.0}, "error level lies in"),
        ({"bins": 0}, "bins=0"),
        ({"bins": True}, "bins=True"),
    ],
)
def test_bad_settings_say_what_is_wrong(settings, message):
    with pytest.raises(bbi.BudgetError, match=message):
        Calibrate(**settings)


def test_calibrate_takes_true_or_settings_only():
    with pytest.raises(bbi.BudgetError, match="pass True for the default report"):
        bbi.assert_indistinguishable(
            TEACHER, HedgingStudent(), PROMPTS, budget=BUDGET, epsilon=0.5, calibrate="yes"
        )


def test_agreement_rules():
    exact = Calibrate(agreement="exact")
    assert agreements(exact, ["The  answer\n", "yes"], ["the answer", "no"]) == [True, False]
    first_word = Calibrate(agreement=lambda teacher, student: teacher[:1] == student[:1])
    assert agreements(first_word, ["abc", "xyz"], ["aaa", "abc"]) == [True, False]
    assert first_word.rule == "<lambda>"
    assert Calibrate(similarity=0.75).rule == "embedding cosine ≥ 0.75"


def test_a_student_without_token_log_probabilities_is_refused_before_generating():
    calls = []

    def student_fn(prompt, seed):
        calls.append(prompt)
        return teacher_fn(prompt, seed)

    student = from_callable(student_fn, name="opaque-student")
    with pytest.raises(bbi.BudgetError, match="cannot report token log-probabilities"):
        bbi.assert_indistinguishable(
            TEACHER, student, PROMPTS, budget=BUDGET, epsilon=0.5, calibrate=True
        )
    assert calls == []


def test_the_verdict_carries_the_report_per_bucket_and_over_all():
    student = HedgingStudent(unsure_every=4)
    prompts = {"factual": PROMPTS[:25], "style": PROMPTS[25:]}
    rule = Calibrate(agreement="exact", target=0.9)
    try:
        verdict = bbi.assert_indistinguishable(
            TEACHER, student, prompts, budget=BUDGET, epsilon=0.1, calibrate=rule
        )
    except bbi.BehaviorFailure as failure:  # the hedges give the student away; fine here
        verdict = failure.verdict
    assert student.scored == 200  # every query's answer scored once, in one pass
    overall = verdict.calibration
    assert overall is not None
    assert overall.samples == 200
    assert overall.rule == "exact match"
    # The hedges are exactly the disagreements and exactly the unconfident answers.
    assert overall.auroc == 1.0
    assert overall.threshold is not None
    assert overall.threshold > -1.0
    assert overall.served_agreement == 1.0
    assert overall.served_lower >= 0.9
    assert 0.6 <= overall.coverage <= 0.9
    for name in ("factual", "style"):
        bucket = verdict.buckets[name].calibration
        assert bucket is not None
        assert bucket.samples == 100
    assert sum(verdict.buckets[n].calibration.agreeing for n in prompts) == overall.agreeing
    fingerprint = verdict.fingerprint
    assert fingerprint.statistics["factual"]["calibration:agreement"]["n"] == 100
    assert fingerprint.statistics["style"]["calibration:confidence"]["type"] == "mean"
    assert set(fingerprint.metadata["calibration"]) == {"factual", "style"}
    schema = report_schema()
    document = json.loads(json.dumps(verdict.to_dict()))
    jsonschema.validate(document, {"$ref": "#/$defs/verdict", "$defs": schema["$defs"]})


def test_without_calibrate_there_is_no_report():
    verdict = bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=BUDGET, epsilon=0.5)
    assert verdict.calibration is None
    assert all(bucket.calibration is None for bucket in verdict.buckets.values())
    assert not any(
        name.startswith("calibration:")
        for fields in verdict.fingerprint.statistics.values()
        for name in fields
    )
