"""The reference and rank adversaries: a local model scores (and samples) for a black-box student.

The scripted world of ``scoring_world``: a student sampling at twice the teacher's temperature
writes text that reads like the teacher's, so the black-box adversaries (stylometric, kernel,
embedding) cannot tell them apart; a model that knows the teacher's preferences can. The A/A
replications play a fixed list of seeds and assert the false-failure rate ≤ α + 3σ,
σ = sqrt(α(1 − α)/R) over R seeds; the quick checks of the default run play a few of them.
"""

import dataclasses
import itertools
import json
import math
import random
from collections import Counter
from fractions import Fraction

import pytest
from scoring_world import PROMPTS, BlackBox, WordModel

import pytest_bbi as bbi
from pytest_bbi import context
from pytest_bbi.adversaries import (
    DEFAULT_CLASS,
    REFERENCE_DEFAULTS,
    AdversaryTimeout,
    Binding,
    Deadline,
    Explaining,
    LabeledPair,
    Trial,
    resolve,
)
from pytest_bbi.adversaries.local import joins_default_class
from pytest_bbi.adversaries.rank import RankAdversary, rank_among
from pytest_bbi.adversaries.reference import ReferenceAdversary, token_features
from pytest_bbi.errors import AdversaryError, ModelOutputError
from pytest_bbi.game.run import GameRun
from pytest_bbi.game.setup import set_up
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.cached_model import behind_cache
from pytest_bbi.generation.features import FeatureCache, tally

ALPHA = 0.05
TEACHER = WordModel("teacher")
HOT = BlackBox(WordModel("hot", temperature=2.0))
COPY = BlackBox(WordModel("copy"))
A_A_SEEDS = range(200)
QUICK_SEEDS = range(3)


def _verdict(teacher, student, budget, *, epsilon=0.1, seed=0):
    try:
        return bbi.assert_indistinguishable(
            teacher, student, PROMPTS, budget=budget, epsilon=epsilon, seed=seed
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict


def _sigma(replications):
    return math.sqrt(ALPHA * (1 - ALPHA) / replications)


def _with_context(**changes):
    return context.activate(dataclasses.replace(context.current(), **changes))


def test_both_are_registered_binding_adversaries_and_rank_explains_its_samples():
    reference, rank = resolve(["reference", "rank"])
    assert isinstance(reference, ReferenceAdversary)
    assert isinstance(rank, RankAdversary)
    assert isinstance(reference, Binding)
    assert isinstance(rank, Binding)
    assert isinstance(rank, Explaining)
    assert {"reference", "rank"} <= set(bbi.adversaries.available())
    with pytest.raises(ValueError, match="samples must be >= 1"):
        RankAdversary(samples=0)
    with pytest.raises(ValueError, match="bins must be >= 1"):
        RankAdversary(bins=0)


def test_they_catch_a_hotter_black_box_student_that_black_box_adversaries_miss():
    budget = bbi.Budget(
        queries=200, adversaries=["stylometric", "kernel", "embedding", "reference", "rank"]
    )
    verdict = _verdict(TEACHER, HOT, budget, seed=1)
    assert not verdict.passed
    cells = verdict.adversaries
    for blind in ("stylometric", "kernel", "embedding"):
        assert not cells[blind].rejected, (blind, cells[blind])
        assert cells[blind].lower <= 0.1, (blind, cells[blind])
    for scoring in ("reference", "rank"):
        assert cells[scoring].rejected, (scoring, cells[scoring])  # Holm-corrected, at ε = 0.1
    assert cells["rank"].details == {"local_samples": 16 * 200}  # 200 distinct prompts


def test_without_a_local_scorer_they_are_skipped_with_how_to_add_one():
    budget = bbi.Budget(queries=40, adversaries=["stylometric", "reference", "rank"])
    restore = context.activate(context.TestContext())  # outside pytest: the assertion warns
    try:
        with pytest.warns(bbi.BbiWarning, match="did not play") as warned:
            verdict = _verdict(BlackBox(TEACHER), HOT, budget)
    finally:
        restore()
    assert len(warned) == 2
    assert list(verdict.adversaries) == ["stylometric"]
    for name in ("reference", "rank"):
        assert "no model can score completions locally" in verdict.skipped[name]
        assert "--bbi-reference=hf:" in verdict.skipped[name]


def test_the_session_reference_scores_and_samples_when_the_teacher_cannot():
    reference = WordModel("local twin")  # the teacher's weights, run locally
    loads = []
    restore = _with_context(reference=lambda: loads.append(1) or reference)
    try:
        budget = bbi.Budget(queries=200, adversaries=["reference", "rank"])
        verdict = _verdict(BlackBox(TEACHER), HOT, budget, seed=2)
    finally:
        restore()
    assert not verdict.passed
    assert set(verdict.adversaries) == {"reference", "rank"}
    assert loads == [1, 1]  # each adversary asked for the session's model once
    assert reference.scored > 0
    assert reference.generated == 16 * 200


def test_the_default_class_takes_reference_only_where_likelihood_cannot_play():
    def adversaries(teacher, student):
        budget = bbi.Budget(queries=40)
        setup = set_up(PROMPTS[:40], budget, capability=None, seed=0)
        game = GameRun(setup, teacher, student, budget, "detect", 0.1, 0.05, None)
        return [adversary.name for adversary in game.adversaries], game.skipped

    # a local teacher and an API student: it plays
    assert adversaries(TEACHER, HOT)[0] == [*DEFAULT_CLASS, *REFERENCE_DEFAULTS]
    # two API models and no reference: left out, with no warning about it
    names, skipped = adversaries(BlackBox(TEACHER), HOT)
    assert names == list(DEFAULT_CLASS)
    assert set(skipped) == {"likelihood"}
    # ... until a reference model is configured
    restore = _with_context(reference=lambda: WordModel("local twin"))
    try:
        assert joins_default_class(BlackBox(TEACHER), HOT)
    finally:
        restore()

    class Scoring(WordModel):
        def score(self, prompts, completions):
            return [sum(row) for row in self.token_log_probs(prompts, completions)]

    # both models score: the likelihood-ratio rule plays instead
    assert not joins_default_class(Scoring("t"), Scoring("s"))


def test_token_features_describe_each_completion():
    rows = [[math.log(0.9), math.log(0.001), math.log(0.4)], []]
    features = token_features(rows)
    assert features.shape == (2, 10)
    assert features[0][0] == pytest.approx(sum(rows[0]) / 3)
    assert features[0][2] == pytest.approx(math.log(0.001))
    assert features[0][6:8] == pytest.approx([1 / 3, 1 / 3])  # one top token, one surprising
    assert features[0][8] == pytest.approx(sum(rows[0]))
    assert features[0][9] == pytest.approx(math.log(4))
    assert not features[1].any()


def test_what_the_scorer_expected_centers_each_token():
    rows = [[math.log(0.9), math.log(0.001), math.log(0.4)], []]
    expected = [[math.log(0.8), math.log(0.1), math.log(0.5)], []]
    features = token_features(rows, expected)
    assert features.shape == (2, 13)
    assert features[:, :10] == pytest.approx(token_features(rows))
    centered = [r - e for r, e in zip(rows[0], expected[0], strict=True)]
    assert features[0][10:] == pytest.approx([sum(centered), sum(centered) / 3, sum(expected[0])])
    assert not features[1].any()
    with pytest.raises(ValueError, match="3 token log-probabilities but 2 expectations"):
        token_features(rows, [expected[0][:2], []])


def _centered_sums(scorer, model, prompts, seeds):
    completions = model.generate(prompts, seeds)
    rows = scorer.token_log_probs(prompts, completions)
    means = scorer.expected_token_log_probs(prompts, completions)
    return [sum(r) - sum(e) for r, e in zip(rows, means, strict=True)]


def test_a_colder_student_drifts_above_what_the_teacher_expected_and_the_teacher_does_not():
    """The centered sum averages 0 over the teacher's own samples (±4 standard errors, on fixed
    seeds) and is clearly positive for a student sampling at 0.7 of its temperature."""
    own = _centered_sums(TEACHER, TEACHER, PROMPTS, range(len(PROMPTS)))
    cold = _centered_sums(TEACHER, WordModel("cold", 0.7), PROMPTS, range(len(PROMPTS)))
    for sums, low, high in ((own, -4, 4), (cold, 4, math.inf)):
        mean = sum(sums) / len(sums)
        error = math.sqrt(sum((x - mean) ** 2 for x in sums) / (len(sums) - 1) / len(sums))
        assert low * error < mean < high * error, (mean, error)


def test_the_reference_adversary_reads_the_expectations_when_the_scorer_has_them():
    class TokensOnly:
        def __init__(self, model):
            self.name, self.identity, self._model = model.name, model.identity + ":tokens", model
            self.generate = model.generate
            self.token_log_probs = model.token_log_probs

    class Misaligned(WordModel):
        def expected_token_log_probs(self, prompts, completions):
            return [row[:-1] for row in super().expected_token_log_probs(prompts, completions)]

    prompts = PROMPTS[:4]
    answers = TEACHER.generate(prompts, range(4))
    keys = [json.dumps([p, c]) for p, c in zip(prompts, answers, strict=True)]
    played = {}
    for scorer in (TEACHER, TokensOnly(TEACHER)):
        adversary = ReferenceAdversary(scorer)
        assert adversary.bind(TEACHER, HOT) is None
        played[scorer.identity] = adversary._featurize(keys, Deadline(None))[0]
    rows = TEACHER.token_log_probs(prompts, answers)
    # with the expectations: the centered log-likelihood alone; without: the ten-number profile
    centered = played[TEACHER.identity]
    assert centered.shape == (4, 1)
    assert centered[:, 0] == pytest.approx(_centered_sums(TEACHER, TEACHER, prompts, range(4)))
    assert played[TEACHER.identity + ":tokens"] == pytest.approx(token_features(rows))
    adversary = ReferenceAdversary(Misaligned("misaligned"))
    assert adversary.bind(TEACHER, HOT) is None
    with pytest.raises(ModelOutputError, match=r"'misaligned'.*3 token log-probabilities but 2"):
        adversary._featurize(keys, Deadline(None))


def test_the_same_completion_under_two_prompts_is_scored_under_each():
    adversary = ReferenceAdversary()
    assert adversary.bind(TEACHER, HOT) is None
    first, second = PROMPTS[:2]
    word = next(iter(set(TEACHER.generate([first], [0])[0].split())))
    train = [LabeledPair(first, word, "zzz"), LabeledPair(second, word, "zzz")]
    scored = TEACHER.scored
    adversary.decide(train, [Trial(first, word, "zzz")], Deadline(None))
    assert TEACHER.scored - scored == 4  # (first, word), (second, word) and "zzz" under each


def test_a_rank_is_uniform_for_a_completion_drawn_like_its_samples_ties_included():
    """Exactly: every outcome of a three-valued draw, with text ties and value ties."""

    class Edge:
        def __init__(self, high):
            self.high = high

        def randint(self, low, high):
            return high if self.high else low

    values = {"a": (Fraction(1, 2), 0.0), "b": (Fraction(1, 3), -1.0), "c": (Fraction(1, 6), -1.0)}
    m = 3
    distribution = Counter()
    for draw in itertools.product(values, repeat=m + 1):
        weight = math.prod(values[text][0] for text in draw)
        samples = [(values[text][1], text) for text in draw[1:]]
        value, text = values[draw[0]][1], draw[0]
        low = rank_among(value, text, samples, Edge(False))
        high = rank_among(value, text, samples, Edge(True))
        for rank in range(low, high + 1):
            distribution[rank] += weight / (high - low + 1)
    assert dict(distribution) == {rank: Fraction(1, m + 1) for rank in range(m + 1)}


def test_rank_samples_each_prompt_once_and_reports_the_samples_it_drew():
    sampler = WordModel("local")
    adversary = RankAdversary(sampler, samples=5)
    assert adversary.bind(BlackBox(TEACHER), HOT, run_seed=3) is None
    prompts = PROMPTS[:6]
    teacher = TEACHER.generate(prompts, range(6))
    student = HOT.generate(prompts, range(6))
    train = [
        LabeledPair(p, t, s) for p, t, s in zip(prompts[:4], teacher[:4], student[:4], strict=True)
    ]
    trials = [Trial(p, s, t) for p, t, s in zip(prompts[4:], teacher[4:], student[4:], strict=True)]
    first = adversary.decide(train, trials, Deadline(None))
    assert adversary.explain([True, False]) == {"local_samples": 30}
    assert sampler.generated == 30
    again = adversary.decide(train[:2], trials, Deadline(None))  # a refit: the same prompts
    assert adversary.explain([True, False]) == {"local_samples": 0}
    assert sampler.generated == 30
    assert len(first) == len(again) == 2


def test_a_warm_rerun_scores_and_samples_nothing(tmp_path):
    sampler = WordModel("local")
    prompts = PROMPTS[:8]
    teacher, student = TEACHER.generate(prompts, range(8)), HOT.generate(prompts, range(8))
    train = [
        LabeledPair(p, t, s) for p, t, s in zip(prompts[:6], teacher[:6], student[:6], strict=True)
    ]
    trials = [Trial(p, t, s) for p, t, s in zip(prompts[6:], teacher[6:], student[6:], strict=True)]

    def play():
        with GenerationCache(tmp_path) as store:
            restore = _with_context(
                cache=lambda model: behind_cache(model, store),
                features=lambda: FeatureCache(store),
            )
            try:
                answers = []
                for adversary in (ReferenceAdversary(sampler), RankAdversary(sampler, samples=4)):
                    assert adversary.bind(BlackBox(TEACHER), HOT, 0) is None
                    answers.append(adversary.decide(train, trials, Deadline(None)))
                return answers
            finally:
                restore()

    cold = play()
    before = (sampler.scored, sampler.generated, tally()["token-log-probs"]["computed"])
    assert sampler.scored
    assert sampler.generated
    warm = play()
    assert (sampler.scored, sampler.generated) == before[:2]
    assert tally()["token-log-probs"]["computed"] == before[2]
    assert warm == cold


def _a_a_failures(adversary, seeds):
    budget = bbi.Budget(queries=100, adversaries=[adversary])
    return sum(not _verdict(TEACHER, COPY, budget, epsilon=0.0, seed=seed).passed for seed in seeds)


@pytest.mark.parametrize("adversary", ["reference", "rank"])
def test_quick_a_a_never_fails_on_a_few_seeds(adversary):
    assert _a_a_failures(adversary, QUICK_SEEDS) == 0


@pytest.mark.replication
@pytest.mark.parametrize("adversary", ["reference", "rank"])
def test_a_a_false_failures_are_at_most_alpha(adversary):
    failures = _a_a_failures(adversary, A_A_SEEDS)
    print(f"A/A with {adversary}: {failures}/{len(A_A_SEEDS)} false failures at epsilon=0")
    assert failures / len(A_A_SEEDS) <= ALPHA + 3 * _sigma(len(A_A_SEEDS)), failures


def test_a_seeded_rank_tie_break_is_a_pure_function_of_the_run_seed():
    samples = [(-1.0, "x"), (-1.0, "y"), (-2.0, "z")]
    ranks = {rank_among(-1.0, "w", samples, random.Random(seed)) for seed in range(20)}
    assert ranks == {1, 2, 3}
    assert rank_among(-1.0, "w", samples, random.Random(5)) == rank_among(
        -1.0, "w", samples, random.Random(5)
    )


def test_unbound_they_say_how_to_bind_and_a_spent_deadline_stops_them():
    trials = [Trial(PROMPTS[0], "bal", "kel")]
    train = [LabeledPair(PROMPTS[1], "bal", "kel")]
    for adversary, message in (
        (ReferenceAdversary(), r"ReferenceAdversary\(scorer=model\)"),
        (RankAdversary(), r"RankAdversary\(sampler=model\)"),
    ):
        with pytest.raises(AdversaryError, match=message):
            adversary.decide(train, trials, Deadline(None))
        assert adversary.bind(TEACHER, HOT, 0) is None
        ticks = iter([0.0, 100.0])
        with pytest.raises(AdversaryTimeout):
            adversary.decide(
                train, trials, Deadline(1.0, clock=lambda ticks=ticks: next(ticks, 100.0))
            )


def test_a_rebound_adversary_forgets_the_features_of_its_last_game():
    class Flat(WordModel):
        def token_log_probs(self, prompts, completions):
            return [[-1.0] * len(completion.split()) for completion in completions]

        expected_token_log_probs = token_log_probs

    prompts = PROMPTS[:30]
    teacher, student = TEACHER.generate(prompts, range(30)), HOT.generate(prompts, range(30))
    pairs = list(zip(prompts, teacher, student, strict=True))
    train = [LabeledPair(p, t, s) for p, t, s in pairs[:20]]
    trials = [Trial(p, t, s) for p, t, s in pairs[20:]]
    reference = ReferenceAdversary()
    assert reference.bind(TEACHER, HOT, 0) is None
    assert set(reference.decide(train, trials, Deadline(None))) != {0.5}
    assert reference.bind(Flat("flat"), HOT, 0) is None  # a scorer that sees nothing
    assert set(reference.decide(train, trials, Deadline(None))) == {0.5}

    def ranked(adversary, run_seed):
        assert adversary.bind(TEACHER, HOT, run_seed) is None
        return adversary.decide(train, trials, Deadline(None))

    rank = RankAdversary(samples=4)
    first = ranked(rank, 0)
    assert ranked(rank, 1) == ranked(RankAdversary(samples=4), 1) != first
