"""game/decision.py: the α split, the certificate route, pooling, and the decision they make."""

import pytest

from pytest_bbi.game.decision import AlphaSplit, Cell, decide, decide_game
from pytest_bbi.game.play import Score
from pytest_bbi.verdict import Certificate

EPSILON = 0.2


def cell(bucket, adversary, correct, total, *, planned=None, timed_out=False):
    score = Score(correct, total, 0.5, timed_out, ())
    return Cell(bucket, adversary, score, EPSILON, planned or total)


def bound(advantage_upper):
    return Certificate(
        samples=100,
        tv=advantage_upper / 4,
        tv_upper=advantage_upper / 2,
        advantage_upper=advantage_upper,
        queries=100,
        queries_upper=1.0,
        alpha=0.025,
        seconds=0.0,
    )


@pytest.mark.parametrize(
    ("white_box", "mode", "sequential", "expected"),
    [
        (True, "certify", False, AlphaSplit(0.025, 0.025, True)),
        (True, "certify", True, AlphaSplit(0.05, 0.05, False)),
        (True, "detect", False, AlphaSplit(0.05, 0.05, False)),
        (False, "certify", False, AlphaSplit(0.05, 0.05, False)),
    ],
)
def test_alpha_is_halved_only_when_the_certificate_can_certify(
    white_box, mode, sequential, expected
):
    assert AlphaSplit.of(0.05, white_box=white_box, mode=mode, sequential=sequential) == expected


def undecided_cells():
    # 55/100 correct: upper bound above ε = 0.2, lower bound below it: neither passes nor fails.
    return [cell("code", "stylometric", 55, 100), cell("math", "stylometric", 55, 100)]


def game(cells, *, counts, certificates, mode="certify"):
    return decide_game(
        cells,
        alpha=AlphaSplit(0.025, 0.025, counts),
        mode=mode,
        epsilon=EPSILON,
        train_fraction=0.5,
        sequential=False,
        queries={"code": 200, "math": 200},
        certificates=certificates,
    )


def test_certificates_within_epsilon_certify_what_the_tests_leave_open():
    tested, _, _ = decide(
        undecided_cells(), alpha=0.025, mode="certify", train_fraction=0.5, sequential=False
    )
    assert tested == "inconclusive"
    outcome = game(
        undecided_cells(), counts=True, certificates={"code": bound(0.1), "math": bound(0.15)}
    )
    assert outcome.decision == "certified"
    assert outcome.queries_to_decide is None
    assert all(bucket.passed for bucket in outcome.buckets.values())
    assert outcome.buckets["code"].certificate == bound(0.1)


def test_a_certificate_counts_only_within_epsilon_and_only_when_alpha_was_split_for_it():
    above = game(
        undecided_cells(), counts=True, certificates={"code": bound(0.1), "math": bound(0.3)}
    )
    assert above.decision == "inconclusive"
    assert [b.passed for b in above.buckets.values()] == [True, False]
    assert above.queries_to_decide is not None
    assert above.queries_to_decide % 2 == 0
    not_counted = game(
        undecided_cells(), counts=False, certificates={"code": bound(0.1), "math": bound(0.1)}
    )
    assert not_counted.decision == "inconclusive"


def test_detect_ignores_certificates():
    outcome = game(
        undecided_cells(),
        counts=True,
        certificates={"code": bound(0.0), "math": bound(0.0)},
        mode="detect",
    )
    assert outcome.decision == "indistinguishable"


def test_pooled_results_are_rejected_when_any_of_their_cells_was():
    cells = [
        cell("code", "stylometric", 95, 100),
        cell("code", "kernel", 50, 100),
        cell("math", "stylometric", 40, 100),
        cell("math", "kernel", 52, 100),
    ]
    outcome = game(cells, counts=False, certificates={}, mode="detect")
    assert outcome.decision == "distinguishable"
    assert outcome.buckets["code"].adversaries["stylometric"].rejected
    assert not outcome.buckets["math"].adversaries["stylometric"].rejected
    pooled = outcome.adversaries["stylometric"]
    assert (pooled.correct, pooled.total) == (135, 200)
    assert pooled.rejected
    assert not outcome.adversaries["kernel"].rejected
    assert list(outcome.adversaries) == ["stylometric", "kernel"]
    assert [(c.bucket, c.adversary) for c, _ in outcome.cells] == [
        (c.bucket, c.adversary) for c in cells
    ]


def test_one_bucket_reports_its_own_results_unpooled():
    cells = [cell("code", "stylometric", 70, 100)]
    outcome = decide_game(
        cells,
        alpha=AlphaSplit(0.05, 0.05, False),
        mode="detect",
        epsilon=EPSILON,
        train_fraction=0.5,
        sequential=False,
        queries={"code": 200},
        certificates={},
    )
    assert outcome.adversaries == dict(outcome.buckets["code"].adversaries)


def test_every_adversary_out_of_time_is_inconclusive_whatever_the_certificate():
    cells = [
        cell("code", "stylometric", 0, 0, timed_out=True),
        cell("math", "stylometric", 0, 0, timed_out=True),
    ]
    outcome = game(cells, counts=True, certificates={"code": bound(0.5), "math": bound(0.5)})
    assert outcome.decision == "inconclusive"
    assert outcome.queries_to_decide is None
