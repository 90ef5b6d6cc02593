"""game/decision.py: the α split, Holm and intersection–union, the certificate route, pooling,
the stopping rules and the detectable advantage."""

import pytest

from pytest_bbi import stats
from pytest_bbi.game.decision import AlphaSplit, Cell, decide_game, progress
from pytest_bbi.game.play import Score
from pytest_bbi.verdict import Certificate

EPSILON = 0.2


def score(correct, total, *, rounds=None, timed_out=False):
    calls = (True,) * correct + (False,) * (total - correct)
    return Score(correct, total, 0.5, timed_out, (), calls=calls, rounds=rounds or (total,))


def cell(bucket, adversary, correct, total, *, looks=None, epsilon=EPSILON, timed_out=False):
    looks = looks or (total,)
    return Cell(
        bucket, adversary, score(correct, total, timed_out=timed_out), epsilon, tuple(looks)
    )


def bound(advantage_upper):
    return Certificate(
        samples=100,
        advantage=advantage_upper / 2,
        advantage_upper=advantage_upper,
        tv=advantage_upper / 4,
        tv_upper=advantage_upper / 2,
        queries=100,
        queries_upper=1.0,
        alpha=0.025,
        anytime=False,
        seconds=0.0,
    )


@pytest.mark.parametrize(
    ("white_box", "mode", "expected"),
    [
        (True, "certify", AlphaSplit(0.025, 0.025, True)),
        (True, "detect", AlphaSplit(0.05, 0.05, False)),
        (False, "certify", AlphaSplit(0.05, 0.05, False)),
    ],
)
def test_alpha_is_halved_only_when_both_routes_can_certify(white_box, mode, expected):
    assert AlphaSplit.of(0.05, white_box=white_box, mode=mode) == expected


def game(cells, *, counts=False, certificates=None, mode="certify", alpha=None):
    buckets = list(dict.fromkeys(c.bucket for c in cells))
    return decide_game(
        cells,
        alpha=alpha or AlphaSplit(0.025, 0.025, counts),
        mode=mode,
        train_fraction=0.5,
        queries=dict.fromkeys(buckets, 200),
        prompts=dict.fromkeys(buckets, 50),
        certificates=certificates or {},
    )


def undecided_cells():
    # 55/100 correct: upper bound above ε = 0.2, lower bound below it: neither passes nor fails.
    return [cell("code", "stylometric", 55, 100), cell("math", "stylometric", 55, 100)]


def test_certificates_within_epsilon_certify_what_the_tests_leave_open():
    assert game(undecided_cells(), counts=True).decision == "inconclusive"
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


def test_detect_ignores_certificates_and_passes_as_undetected():
    outcome = game(
        undecided_cells(),
        counts=True,
        certificates={"code": bound(0.0), "math": bound(0.0)},
        mode="detect",
    )
    assert outcome.decision == "undetected"


def test_certified_is_an_intersection_union_claim_each_cell_at_alpha():
    """Twelve cells, each within ε at α = 0.05 but not at α/12: certified, since a false
    certificate needs its own cell's level-α test to be wrong (Berger 1982)."""
    n, p0 = 300, stats.accuracy_threshold(EPSILON)
    k = stats.critical_count(n, p0, 0.05, "less")
    assert stats.binomial_p_value(k, n, p0, "less") > 0.05 / 12
    cells = [cell(f"b{b}", f"a{a}", k, n) for b in range(3) for a in range(4)]
    outcome = game(cells, alpha=AlphaSplit(0.05, 0.05, False))
    assert outcome.decision == "certified"
    assert all(result.within for _, result in outcome.cells)
    assert all(result.upper <= EPSILON for _, result in outcome.cells)
    one_short = [cell("b0", "a0", k + 1, n), *cells[1:]]
    assert game(one_short, alpha=AlphaSplit(0.05, 0.05, False)).decision == "inconclusive"


def test_distinguishable_is_holm_over_every_cell():
    """Holm's step-down rejects a second cell that Bonferroni (α/m for every cell) would not."""
    p0 = stats.accuracy_threshold(EPSILON)
    strong = stats.critical_count(100, p0, 0.001)
    second = stats.critical_count(100, p0, 0.05 / 2)
    assert stats.binomial_p_value(second, 100, p0) > 0.05 / 3
    cells = [
        cell("code", "stylometric", strong, 100),
        cell("code", "kernel", second, 100),
        cell("code", "embedding", 50, 100),
    ]
    outcome = game(cells, mode="detect", alpha=AlphaSplit(0.05, 0.05, False))
    assert outcome.decision == "distinguishable"
    assert [result.rejected for _, result in outcome.cells] == [True, True, False]
    assert outcome.buckets["code"].passed is False


def test_pooled_results_are_rejected_when_any_of_their_cells_was():
    cells = [
        cell("code", "stylometric", 95, 100),
        cell("code", "kernel", 50, 100),
        cell("math", "stylometric", 40, 100),
        cell("math", "kernel", 52, 100),
    ]
    outcome = game(cells, mode="detect")
    assert outcome.decision == "distinguishable"
    assert outcome.buckets["code"].adversaries["stylometric"].rejected
    assert not outcome.buckets["math"].adversaries["stylometric"].rejected
    pooled = outcome.adversaries["stylometric"]
    assert (pooled.correct, pooled.total) == (135, 200)
    assert pooled.rejected
    code, math = (outcome.buckets[b].adversaries["stylometric"] for b in ("code", "math"))
    assert pooled.lower <= (code.lower + math.lower) / 2
    assert pooled.upper >= (code.upper + math.upper) / 2
    assert not outcome.adversaries["kernel"].rejected
    assert list(outcome.adversaries) == ["stylometric", "kernel"]
    assert [(c.bucket, c.adversary) for c, _ in outcome.cells] == [
        (c.bucket, c.adversary) for c in cells
    ]


def test_one_bucket_reports_its_own_results_unpooled():
    outcome = game([cell("code", "stylometric", 70, 100)], mode="detect")
    assert outcome.adversaries == dict(outcome.buckets["code"].adversaries)


def test_every_adversary_out_of_time_is_inconclusive_whatever_the_certificate():
    cells = [
        cell("code", "stylometric", 0, 0, looks=(100,), timed_out=True),
        cell("math", "stylometric", 0, 0, looks=(100,), timed_out=True),
    ]
    outcome = game(cells, counts=True, certificates={"code": bound(0.5), "math": bound(0.5)})
    assert outcome.decision == "inconclusive"
    assert outcome.queries_to_decide is None


@pytest.mark.parametrize("mode", ["detect", "certify"])
def test_one_overrun_adversary_makes_an_otherwise_passing_run_inconclusive(mode):
    # Passing on the adversaries that finished would change the class with the machine's load.
    cells = [
        cell("code", "stylometric", 100, 200, looks=(200,)),
        cell("code", "kernel", 0, 0, looks=(200,), timed_out=True),
    ]
    assert (
        game(cells[:1], mode=mode).decision
        == {"detect": "undetected", "certify": "certified"}[mode]
    )
    outcome = game(cells, mode=mode)
    assert outcome.decision == "inconclusive"
    assert outcome.queries_to_decide is None


def test_a_rejection_stands_beside_an_overrun_adversary():
    cells = [
        cell("code", "stylometric", 95, 100, looks=(100,)),
        cell("code", "kernel", 0, 0, looks=(100,), timed_out=True),
    ]
    assert game(cells, mode="detect").decision == "distinguishable"


def test_every_verdict_carries_what_it_could_have_detected():
    small = game([cell("all", "stylometric", 12, 24)], mode="detect")
    assert small.decision == "undetected"
    assert small.power.detectable["all"] > 2 * EPSILON
    assert small.power.underpowered
    assert small.power.queries is not None
    assert small.power.queries > 48
    large = game([cell("all", "stylometric", 1000, 2000)], mode="detect")
    assert large.power.detectable["all"] < 2 * EPSILON
    assert not large.power.underpowered
    assert large.power.queries is None


# --------------------------------------------------------------------------------------------
# Stopping a sequential game
# --------------------------------------------------------------------------------------------

LOOKS = (16, 40, 100, 200)


def sequential(correct_per_round, *, bucket="all", adversary="tic", epsilon=EPSILON):
    rounds = tuple(b - a for a, b in zip((0, *LOOKS), LOOKS, strict=False))[
        : len(correct_per_round)
    ]
    calls = tuple(
        flag
        for correct, size in zip(correct_per_round, rounds, strict=True)
        for flag in (True,) * correct + (False,) * (size - correct)
    )
    played = Score(sum(calls), len(calls), 0.1, False, (), calls=calls, rounds=rounds)
    return Cell(bucket, adversary, played, epsilon, LOOKS)


def test_a_sequential_game_stops_when_holm_would_reject():
    clear = sequential([16, 24])
    state = progress([clear], alpha=AlphaSplit(0.05, 0.05, False), mode="detect", certified={})
    assert state.stop
    unclear = sequential([9, 13])
    assert not progress(
        [unclear], alpha=AlphaSplit(0.05, 0.05, False), mode="detect", certified={}
    ).stop


def test_detect_settles_a_bucket_whose_cells_can_no_longer_show_anything():
    hopeless = sequential([4, 8, 25])  # far below ½ after 100 pairs: cannot reach ε = 0.2
    promising = sequential([10, 14])
    split = AlphaSplit(0.05, 0.05, False)
    assert progress([hopeless], alpha=split, mode="detect", certified={}).settled == {"all"}
    assert not progress([promising], alpha=split, mode="detect", certified={}).settled


def test_certify_settles_within_and_stops_when_a_bucket_can_no_longer_pass():
    split = AlphaSplit(0.05, 0.05, False)
    within = sequential([6, 10, 25], bucket="code")  # accuracy 0.41 after 100 pairs
    far = sequential([14, 22], bucket="math")  # 0.9 after 40 pairs, ε = 0.2: p0 = 0.6
    state = progress([within], alpha=split, mode="certify", certified={})
    assert state.settled == {"code"}
    assert not state.stop
    assert progress([within, far], alpha=split, mode="certify", certified={}).stop
    counted = AlphaSplit(0.025, 0.025, True)
    assert not progress(
        [sequential([11, 14], bucket="math")], alpha=counted, mode="certify", certified={}
    ).stop


def test_sequential_cells_report_a_bias_adjusted_estimate_after_an_early_stop():
    clear = sequential([15, 22])
    outcome = game([clear], mode="detect", alpha=AlphaSplit(0.05, 0.05, False))
    result = outcome.buckets["all"].adversaries["tic"]
    assert outcome.decision == "distinguishable"
    assert result.advantage == pytest.approx(2 * 37 / 40 - 1)
    assert result.estimate < result.advantage
    assert result.lower <= result.estimate <= result.upper
