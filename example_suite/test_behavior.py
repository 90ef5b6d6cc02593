"""The example suite: SmolLM2-135M-Instruct against five students, one capability at a time.

Each test plays the identification game in one bucket: 48 queries, the first 24 pairs train the
adversaries, the other 24 are held out, and each adversary names the teacher on them. 48 queries
catch a student that is far off, but a pass on 48 says little: such a run would only have
detected an advantage of about 0.74. So the close students, A/A and bf16, play the `instruction`
bucket at the budget `pytest_bbi.plan` gives for detecting an advantage of 0.3 with the four
adversaries of the default class (463 queries), where a pass means something.
"""

import pytest
from prompts import PROMPTS

import pytest_bbi as bbi

BUDGET = bbi.Budget(queries=48, seconds=60)
EPSILON = 0.1
DEEP_BUCKET = "instruction"
DEEP_BUDGET = bbi.Budget(
    queries=bbi.plan(epsilon=EPSILON, detect=0.3, adversaries=4).queries, seconds=300
)
"""The budget at which a student whose advantage is 0.3 in one adversary fails with power 0.8."""

per_bucket = pytest.mark.parametrize(
    "bucket", [pytest.param(name, marks=pytest.mark.capability(name)) for name in PROMPTS]
)


def _verdict(teacher, student, prompts, **options):
    """The verdict of the game on ``prompts``, whether the assertion passes or fails."""
    buckets = len(prompts) if isinstance(prompts, dict) else 1
    budget = bbi.Budget(queries=BUDGET.queries * buckets, seconds=BUDGET.seconds * buckets)
    try:
        return bbi.assert_indistinguishable(
            teacher, student, prompts, budget=budget, epsilon=EPSILON, **options
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict


def _close_student_passes(teacher, student, bucket, name):
    """Play a close student: the deep budget in the deep bucket, 48 queries elsewhere."""
    budget = DEEP_BUDGET if bucket == DEEP_BUCKET else BUDGET
    verdict = bbi.assert_indistinguishable(
        teacher, student, PROMPTS[bucket], budget=budget, epsilon=EPSILON
    )
    print(
        f"{name} {bucket}: advantage {verdict.advantage:+.2f}, {verdict.decision}; "
        f"{budget.queries} queries would have detected an advantage of {verdict.detectable:.2f}"
    )
    if bucket == DEEP_BUCKET:
        assert verdict.detectable <= 0.3


@per_bucket
def test_the_teacher_against_itself_passes(teacher, student, bucket):
    """A/A: the same weights, sampled independently, must pass; else the test itself is broken."""
    _close_student_passes(teacher, student, bucket, "A/A")


@pytest.mark.capability(DEEP_BUCKET)
def test_bf16_rounding_passes(teacher, bf16_student):
    """Rounding the weights to bfloat16 is a near-copy: no adversary finds a gap above ε at a
    budget that would have found an advantage of 0.3."""
    _close_student_passes(teacher, bf16_student, DEEP_BUCKET, "bf16")


@per_bucket
def test_the_pruned_student_is_caught(teacher, pruned_student, bucket):
    """Dropping six layers gives the student away: the failure names the bucket and shows the
    answers the adversaries were most sure of."""
    with pytest.raises(bbi.Distinguishable) as caught:
        bbi.assert_indistinguishable(
            teacher, pruned_student, PROMPTS[bucket], budget=BUDGET, epsilon=EPSILON
        )
    print(caught.value)


@per_bucket
def test_distillation_narrows_the_gap(teacher, pruned_student, distilled_student, bucket):
    """Distilling the pruned student on the teacher's answers makes it harder to tell apart.

    The verdict's advantage is the best adversary's, and the likelihood-ratio adversary, which
    reads both models' token log-probabilities, tells both students from the teacher on every
    pair at this budget (a few distillation steps do not give back the dropped layers' exact
    distribution). So the comparison is over the whole adversary class: the mean advantage of
    its adversaries, which the black-box ones (what a user sees of an API student) bring down.
    """
    pruned = _verdict(teacher, pruned_student, PROMPTS[bucket])
    distilled = _verdict(teacher, distilled_student, PROMPTS[bucket])
    for name, result in pruned.adversaries.items():
        print(
            f"{bucket} {name}: advantage pruned {result.advantage:+.2f}, "
            f"distilled {distilled.adversaries[name].advantage:+.2f}"
        )
    assert set(distilled.adversaries) == set(pruned.adversaries)
    assert _mean_advantage(distilled) < _mean_advantage(pruned)


def _mean_advantage(verdict):
    return sum(result.advantage for result in verdict.adversaries.values()) / len(
        verdict.adversaries
    )


def test_calibration_says_when_to_fall_back_to_the_teacher(teacher, student, distilled_student):
    """The distilled student's calibration: its confidence (mean token log-probability of its
    answer) against its agreement with the teacher's answer to the same prompt, per bucket, and
    the threshold below which a deployment should fall back to the teacher.

    The games above already drew these answers (the same queries, all three buckets at once), so
    only the student's token log-probabilities are computed, and cached. Answers agree when
    their MiniLM embeddings have cosine ≥ 0.6 (the same topic and gist). Two independent
    32-token samples of the teacher itself rarely agree more closely than that, so the A/A
    student's report is the ceiling any student can reach here.
    """
    rule = bbi.Calibrate(similarity=0.6, target=0.8)
    ceiling = _verdict(teacher, student, PROMPTS, calibrate=rule).calibration
    distilled = _verdict(teacher, distilled_student, PROMPTS, calibrate=rule).calibration
    for name, report in (("A/A", ceiling), ("distilled", distilled)):
        advice = (
            f"fall back below {report.threshold:.2f} (serves {report.coverage:.0%})"
            if report.threshold is not None
            else f"no threshold reaches agreement {report.target:g}: fall back always"
        )
        print(
            f"{name}: agreement {report.agreement:.2f} over {report.samples} answers, "
            f"AUROC {report.auroc:.2f}; {advice}"
        )
        for bin_ in report.bins:
            print(
                f"  confidence {bin_.low:+.2f} to {bin_.high:+.2f}: "
                f"{bin_.agreeing}/{bin_.samples} agree"
            )
    assert distilled.samples == ceiling.samples == BUDGET.queries * len(PROMPTS)
    assert distilled.agreement < ceiling.agreement
    # Confident answers agree more often than unconfident ones: confidence is a usable signal.
    assert distilled.auroc > 0.5


@pytest.mark.capability("instruction")
def test_int8_is_caught(teacher, int8_student):
    """int8 dynamic quantization moves the teacher's token distribution enough for the
    likelihood-ratio adversary, which reads both models' scores, to tell it apart."""
    with pytest.raises(bbi.Distinguishable) as caught:
        bbi.assert_indistinguishable(
            teacher, int8_student, PROMPTS["instruction"], budget=BUDGET, epsilon=EPSILON
        )
    print(caught.value)


@pytest.mark.capability("instruction")
def test_int8_is_not_certified_at_this_budget(teacher, int8_student):
    """A subtle case. Certify mode passes only when every adversary's advantage is shown to be
    at most ε; 24 held-out pairs cannot show that for int8, and the message says whether the
    student was caught or the budget was too small, and how many queries would decide."""
    with pytest.raises(bbi.BehaviorFailure) as caught:
        bbi.assert_indistinguishable(
            teacher,
            int8_student,
            PROMPTS["instruction"],
            budget=BUDGET,
            epsilon=EPSILON,
            mode="certify",
        )
    print(caught.value)


def test_the_teacher_fingerprint_matches_its_snapshot(teacher, bbi_snapshot):
    """The teacher's behavior per bucket is pinned; a changed model or decoding fails here.

    The fingerprint uses the teacher's seeds and the games' queries, so its completions are the
    ones the games above already generated.
    """
    fingerprint = bbi.fingerprint(
        teacher, PROMPTS, budget=bbi.Budget(queries=BUDGET.queries * len(PROMPTS))
    )
    assert fingerprint == bbi_snapshot
