"""game/calibration.py: the student's confidence against agreement, and the fallback threshold."""

import contextlib
import json
import math
import random

import jsonschema
import numpy as np
import pytest
from scripted import PROMPTS, HedgingStudent, steady_fn, teacher_fn

import pytest_bbi as bbi
from pytest_bbi.game.calibration import (
    Calibrate,
    TeacherPair,
    agreements,
    auroc,
    calibration_report,
)
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


def test_a_perfectly_separable_set_of_200_prompts_is_recommended_at_its_boundary():
    """The 100 most confident prompts all agree, the other 100 never do. A fixed sequence that
    starts at the 10% point (20 prompts, whose perfect record cannot show 0.9) refuses it;
    the grid starts where a perfect record can pass (32 prompts at 0.7·α) and gets down to the
    boundary."""
    confidences = [-index / 100 for index in range(200)]
    agreed = [index < 100 for index in range(200)]
    report = calibration_report(confidences, agreed, Calibrate(target=0.9, bins=4))
    assert report is not None
    assert report.threshold == confidences[99]  # serve the 50% most confident
    assert report.coverage == 0.5
    assert report.served_agreement == 1.0
    assert report.served_lower == pytest.approx(0.035 ** (1 / 100))
    assert report.agreement == 0.5
    assert report.auroc == 1.0
    assert report.prompts == 200
    assert [b.agreement for b in report.bins] == [0.0, 0.0, 1.0, 1.0]
    assert sum(b.samples for b in report.bins) == 200
    points = report.operating_points  # least confident first
    assert [round(p.coverage, 2) for p in points] == [
        1.0,
        0.9,
        0.8,
        0.7,
        0.6,
        0.5,
        0.4,
        0.3,
        0.2,
        0.16,
    ]
    # the fallback procedure: 0.7·α to the first, passed down while shown; 0.3·α to the last
    # the fallback procedure: 0.7·α to the first threshold, passed down while each is shown
    # (the 60% point inherits it and fails), and 0.3·α of its own to the one serving all
    levels = [round(p.level, 4) for p in points]
    assert levels == [0.015, 0.0, 0.0, 0.0] + [0.035] * 6
    assert [p.lower >= 0.9 for p in points] == [False] * 5 + [True] * 5
    assert all(p.lower == 0.0 for p in points[1:4])  # no level reached them: not tested


def test_repeated_prompts_with_flat_agreement_just_below_target_are_not_recommended():
    """Issue 15, must show 6: 200 prompts asked 3 times each with deterministic answers
    (repeats agree alike) and agreement 0.895, just below the 0.9 target, whatever the
    confidence, so any recommendation is wrong. Over 500 seeded replications through
    calibration_report, one unit per prompt keeps wrong recommendations at most α (+3σ);
    counted as 600 independent rows, as before, they are far more frequent."""
    runs, prompts, repeats, alpha = 500, 200, 3, 0.05
    rule = Calibrate(target=0.9, alpha=alpha, agreement="exact")
    rng = np.random.default_rng(67)
    units = np.repeat(np.arange(prompts), repeats)
    confidence = rng.normal(size=(runs, prompts))[:, units] - 1.0
    agreed = (rng.random((runs, prompts)) < 0.895)[:, units]
    wrong_units = wrong_rows = 0
    for run in range(runs):
        rows = (confidence[run].tolist(), agreed[run].tolist(), rule)
        per_prompt = calibration_report(*rows, units=units.tolist())
        assert per_prompt is not None
        assert per_prompt.prompts == prompts
        assert per_prompt.samples == prompts * repeats
        wrong_units += per_prompt.threshold is not None
        per_row = calibration_report(*rows)
        assert per_row is not None
        wrong_rows += per_row.threshold is not None
    ceiling = alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
    assert wrong_units / runs <= ceiling
    assert wrong_rows / runs > 2 * ceiling


def test_flat_agreement_comfortably_above_target_is_served_in_full():
    """Power where a fixed sequence from the most confident down has little: agreement 0.96
    whatever the confidence, 300 prompts. The level reserved for serving everything finds it
    in most runs (measured 0.92 over these seeds; a fixed sequence from the 10% point, 0.0)."""
    runs, prompts = 200, 300
    rule = Calibrate(target=0.9, agreement="exact")
    rng = np.random.default_rng(89)
    full = 0
    for _ in range(runs):
        report = calibration_report(
            rng.normal(size=prompts).tolist(), (rng.random(prompts) < 0.96).tolist(), rule
        )
        assert report is not None
        full += report.coverage == 1.0
    assert full / runs >= 0.8


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
        ({"relative": "yes"}, "relative='yes'"),
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


def _pairs(agreements):
    return {
        unit: TeacherPair(agreed=bool(same), extra=False) for unit, same in enumerate(agreements)
    }


def test_a_relative_target_below_the_teacher_is_not_recommended():
    """The teacher agrees with itself on 0.6 of prompts, the student with it on 0.535: 0.892 of
    the teacher's own, just below a relative target of 0.9. Over 500 seeded replications of
    400 prompts no more than α (+3σ) of the runs recommend a threshold."""
    runs, prompts, alpha = 500, 400, 0.05
    rule = Calibrate(target=0.9, alpha=alpha, agreement="exact", relative=True)
    rng = np.random.default_rng(97)
    wrong = 0
    for _ in range(runs):
        report = calibration_report(
            rng.normal(size=prompts).tolist(),
            (rng.random(prompts) < 0.535).tolist(),
            rule,
            teacher_pairs=_pairs(rng.random(prompts) < 0.6),
        )
        assert report is not None
        wrong += report.threshold is not None
    assert wrong / runs <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_a_relative_target_is_reachable_where_an_absolute_one_is_not():
    """With sampled answers the teacher agrees with itself on 0.7 of prompts, and a student
    that answers like it agrees with it exactly where it agrees with itself: an absolute 0.9
    is out of reach of any student, 0.9 of the teacher's own agreement is not."""
    rng = np.random.default_rng(101)
    prompts = 2000
    consistent = rng.random(prompts) < 0.7
    confidence = rng.normal(size=prompts).tolist()
    absolute = calibration_report(
        confidence, consistent.tolist(), Calibrate(target=0.9, agreement="exact")
    )
    assert absolute is not None
    assert absolute.threshold is None
    relative = calibration_report(
        confidence,
        consistent.tolist(),
        Calibrate(target=0.9, agreement="exact", relative=True),
        teacher_pairs=_pairs(consistent),
    )
    assert relative is not None
    assert relative.relative
    assert relative.coverage == 1.0
    assert relative.served_lower is not None
    assert 0.9 <= relative.served_lower < 1.0
    assert relative.teacher_agreement == pytest.approx(consistent.mean())
    assert relative.served_agreement == pytest.approx(consistent.mean())
    full = relative.operating_points[0]
    assert full.teacher_agreement == pytest.approx(consistent.mean())


def test_a_relative_target_needs_the_teachers_pairs():
    with pytest.raises(ValueError, match="two teacher answers per prompt"):
        calibration_report([0.0, -1.0], [True, False], Calibrate(relative=True))


class CountingTeacher:
    """The greedy teacher of ``steady_fn``, except that prompts divisible by 3 are sampled
    between two phrasings; it counts the answers it is asked for."""

    name = "counting-teacher"
    identity = "counting-teacher"

    def __init__(self):
        self.asked = 0
        self.requests = []

    def generate(self, prompts, seeds):
        self.asked += len(prompts)
        self.requests += list(zip(prompts, seeds, strict=True))
        return [
            steady_fn(prompt, seed)
            if int(prompt.split()[1].rstrip(":")) % 3 or seed % 2
            else steady_fn(prompt, seed).replace("well", "widely")
            for prompt, seed in zip(prompts, seeds, strict=True)
        ]


@pytest.mark.parametrize(("queries", "extra"), [(50, 50), (100, 0)])
def test_the_teachers_own_agreement_costs_a_query_only_for_prompts_asked_once(queries, extra):
    teacher = CountingTeacher()
    rule = Calibrate(agreement="exact", target=0.9, relative=True)
    budget = bbi.Budget(queries=queries, adversaries=["kernel"])
    try:
        verdict = bbi.assert_indistinguishable(
            teacher, HedgingStudent(), PROMPTS, budget=budget, epsilon=0.1, calibrate=rule
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    report = verdict.calibration
    assert report is not None
    assert report.relative
    assert report.prompts == 50
    assert report.self_agreement_queries == extra
    assert teacher.asked == queries + extra
    assert report.teacher_agreement is not None
    assert 0.5 < report.teacher_agreement < 1.0  # the sampled prompts disagree half the time
    schema = report_schema()
    document = json.loads(json.dumps(verdict.to_dict()))
    jsonschema.validate(document, {"$ref": "#/$defs/verdict", "$defs": schema["$defs"]})


def test_an_absolute_target_asks_the_teacher_nothing_more():
    teacher = CountingTeacher()
    budget = bbi.Budget(queries=50, adversaries=["kernel"])
    try:
        verdict = bbi.assert_indistinguishable(
            teacher,
            HedgingStudent(),
            PROMPTS,
            budget=budget,
            epsilon=0.1,
            calibrate=Calibrate(agreement="exact"),
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    assert teacher.asked == 50
    assert verdict.calibration is not None
    assert verdict.calibration.self_agreement_queries == 0
    assert verdict.calibration.teacher_agreement is None


def test_the_extra_teacher_answers_are_those_a_larger_game_asks_so_the_cache_reuses_them():
    def play(teacher, queries, rule):
        budget = bbi.Budget(queries=queries, adversaries=["kernel"])
        with contextlib.suppress(bbi.BehaviorFailure):
            bbi.assert_indistinguishable(
                teacher, HedgingStudent(), PROMPTS, budget=budget, epsilon=0.1, calibrate=rule
            )

    small, large = CountingTeacher(), CountingTeacher()
    play(small, 50, Calibrate(agreement="exact", relative=True))
    play(large, 100, Calibrate(agreement="exact"))
    extra = small.requests[50:]
    assert len(extra) == 50
    assert set(extra) == set(large.requests[50:])  # each prompt's second draw, same seed
