"""The likelihood adversary and the white-box certificate, on scripted white-box models."""

import json
import math
import random

import jsonschema
import pytest
from scripted import PROMPTS, teacher_fn

import pytest_bbi as bbi
from pytest_bbi import context
from pytest_bbi.adversaries import DEFAULT_CLASS, Binding, Deadline, Trial, resolve
from pytest_bbi.adversaries.likelihood import LikelihoodAdversary
from pytest_bbi.errors import AdversaryError, ModelOutputError
from pytest_bbi.game.run import GameRun
from pytest_bbi.game.setup import set_up
from pytest_bbi.models import Scorer, from_callable
from pytest_bbi.report import report_schema


class TableModel:
    """A white-box model: every prompt gets the same finite distribution over answers."""

    def __init__(self, name, table):
        self.name = name
        self.identity = f"table:{name}:{sorted(table.items())}"
        self.table = table

    def generate(self, prompts, seeds):
        answers, weights = zip(*self.table.items(), strict=True)
        return [random.Random(seed).choices(answers, weights)[0] for seed in seeds]

    def score(self, prompts, completions):
        return [
            math.log(self.table[c]) if self.table.get(c, 0) > 0 else -math.inf for c in completions
        ]


TEACHER = TableModel("teacher", {"yes": 0.5, "no": 0.5})
SHIFTED = TableModel("shifted", {"no": 0.5, "maybe": 0.5})
COPY = TableModel("copy", {"yes": 0.5, "no": 0.5})
BLACK_BOX = from_callable(teacher_fn, name="black-box")


def bound(teacher, student):
    adversary = LikelihoodAdversary()
    assert adversary.bind(teacher, student) is None
    return adversary


def test_is_a_white_box_adversary_registered_by_name():
    adversary = resolve(["likelihood"])[0]
    assert isinstance(adversary, LikelihoodAdversary)
    assert isinstance(adversary, Binding)
    assert isinstance(TEACHER, Scorer)
    assert not isinstance(BLACK_BOX, Scorer)
    assert "likelihood" in bbi.adversaries.available()


def test_the_posterior_is_the_likelihood_ratio_rule():
    adversary = bound(TEACHER, TableModel("s", {"yes": 0.2, "no": 0.8}))
    trials = [Trial("x", "yes", "no"), Trial("x", "no", "yes"), Trial("x", "yes", "yes")]
    # P(yes first is the teacher's) = T(yes)S(no) / (T(yes)S(no) + T(no)S(yes)) = .4 / .5.
    assert adversary.decide([], trials, Deadline(None)) == pytest.approx([0.8, 0.2, 0.5])


def test_impossible_orders_are_decided_and_doubly_impossible_ones_are_coin_flips():
    adversary = bound(TEACHER, SHIFTED)
    trials = [
        Trial("x", "yes", "maybe"),  # only the teacher says yes, only the student maybe
        Trial("x", "maybe", "no"),
        Trial("x", "no", "no"),
        Trial("x", "yes", "yes"),  # cannot happen under either order: no evidence
    ]
    assert adversary.decide([], trials, Deadline(None)) == [1.0, 0.0, 0.5, 0.5]


def test_a_spent_deadline_raises_and_an_unbound_adversary_says_so():
    adversary = bound(TEACHER, SHIFTED)
    with pytest.raises(bbi.adversaries.AdversaryTimeout):
        adversary.decide([], [Trial("x", "yes", "no")], Deadline(1e-9))
    with pytest.raises(AdversaryError, match="bind"):
        LikelihoodAdversary().decide([], [Trial("x", "yes", "no")], Deadline(None))
    assert adversary.decide([], [], Deadline(None)) == []


def test_malformed_scores_fail_with_the_model_named():
    class Broken(TableModel):
        def score(self, prompts, completions):
            return [0.5] * len(completions)

    adversary = bound(TEACHER, Broken("broken", {"yes": 1.0}))
    with pytest.raises(ModelOutputError, match=r"'broken' scored completion 0 .* ≤ 0"):
        adversary.decide([], [Trial("x", "yes", "no")], Deadline(None))


def test_against_a_black_box_model_it_is_skipped_with_the_reason_in_the_verdict():
    budget = bbi.Budget(queries=40, adversaries=["stylometric", "likelihood"])
    restore = context.activate(context.TestContext())  # outside pytest: the assertion warns
    try:
        with pytest.warns(bbi.BbiWarning, match=r"'likelihood' did not play: .*'black-box'"):
            verdict = bbi.assert_indistinguishable(
                BLACK_BOX, BLACK_BOX, PROMPTS, budget=budget, epsilon=0.3, seed=0
            )
    finally:
        restore()
    assert list(verdict.adversaries) == ["stylometric"]
    assert "score(prompts, completions)" in verdict.skipped["likelihood"]
    assert verdict.certificate is None


def test_the_default_class_says_why_likelihood_is_left_out_for_a_black_box_model():
    setup = set_up(PROMPTS, bbi.Budget(queries=40), capability=None, seed=0)
    game = GameRun(setup, TEACHER, BLACK_BOX, bbi.Budget(queries=40), "detect", 0.3, 0.05, None)
    assert [adversary.name for adversary in game.adversaries] == list(DEFAULT_CLASS)
    assert "student 'black-box' cannot score completions" in game.skipped["likelihood"]


def test_with_only_white_box_adversaries_and_black_box_models_nothing_can_play():
    budget = bbi.Budget(queries=40, adversaries=["likelihood"])
    with pytest.raises(AdversaryError, match=r"no adversary .* can play .*teacher 'black-box'"):
        bbi.assert_indistinguishable(
            BLACK_BOX, TEACHER, PROMPTS, budget=budget, epsilon=0.3, seed=0
        )


def test_the_default_class_takes_likelihood_only_when_both_models_score():
    names = [a.name for a in resolve(None, white_box=True)]
    assert names == [*bbi.adversaries.DEFAULT_CLASS, "likelihood"]
    assert "likelihood" not in [a.name for a in resolve(None)]


def test_a_distinguishable_pair_is_caught_and_the_certificate_bounds_every_adversary():
    budget = bbi.Budget(queries=200, adversaries=["stylometric", "kernel", "likelihood"])
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(TEACHER, SHIFTED, PROMPTS, budget=budget, epsilon=0.1, seed=1)
    verdict = failure.value.verdict
    certificate = verdict.certificate
    # TV(T, S) = 1/2; the pairwise optimum is 3/4, estimated directly, and likelihood plays it.
    assert certificate.tv == pytest.approx(0.5, abs=0.1)
    assert certificate.advantage == pytest.approx(0.75, abs=0.1)
    assert certificate.samples == 200
    assert certificate.advantage_upper >= max(r.lower for r in verdict.adversaries.values())
    assert verdict.adversaries["likelihood"].advantage == pytest.approx(0.75, abs=0.15)
    message = str(failure.value)
    assert "white-box certificate (all)" in message
    assert "likelihood (all): the held-out pairs it was most sure of" in message
    assert f"{certificate.advantage:.3f} ≤ {certificate.advantage_upper:.3f} over 200 pairs" in (
        message
    )


def test_certify_passes_on_the_certificate_when_the_adversaries_cannot_say():
    # Identical white-box models: every TV term is 0, so the certificate is about 3/n and
    # certifies ε = 0.15, while the Clopper–Pearson bounds of 50 held-out pairs cannot.
    budget = bbi.Budget(queries=100, adversaries=["stylometric"])
    verdict = bbi.assert_indistinguishable(
        TEACHER, COPY, PROMPTS, budget=budget, epsilon=0.15, mode="certify", seed=0
    )
    assert verdict.decision == "certified"
    assert verdict.adversaries["stylometric"].upper > 0.15
    assert verdict.buckets["all"].certificate.advantage_upper <= 0.15
    assert verdict.certificate.alpha == pytest.approx(0.025)
    with pytest.raises(bbi.Inconclusive):
        bbi.assert_indistinguishable(
            BLACK_BOX, BLACK_BOX, PROMPTS, budget=budget, epsilon=0.15, mode="certify", seed=0
        )


def test_each_bucket_certificate_holds_at_the_certificates_alpha_with_no_split_over_buckets():
    """Certified means every bucket is within ε: an intersection–union claim, so each bucket's
    certificate is at the certificates' α itself (halved only to share α with the adversaries'
    route in certify mode), never divided by the number of buckets."""
    prompts = {"math": PROMPTS[:20], "style": PROMPTS[20:40]}
    budget = bbi.Budget(queries=80, adversaries=["stylometric"])
    verdict = bbi.assert_indistinguishable(
        TEACHER, COPY, prompts, budget=budget, epsilon=0.5, seed=0
    )
    assert {b.certificate.alpha for b in verdict.buckets.values()} == {0.05}
    assert {b.certificate.samples for b in verdict.buckets.values()} == {40}
    assert verdict.certificate.samples == 80
    assert verdict.certificate.alpha == 0.05
    certified = bbi.assert_indistinguishable(
        TEACHER, COPY, prompts, budget=budget, epsilon=0.5, mode="certify", seed=0
    )
    assert {b.certificate.alpha for b in certified.buckets.values()} == {0.025}


def test_the_direct_pairwise_estimate_is_tighter_than_the_single_sample_route():
    """The certificate bounds E_x TV(T⊗S, S⊗T) directly; 1 − (1 − δ̄)² from the single-sample
    total variation only bounds it (here 3/4 against the same 3/4, with a looser bound)."""
    near = TableModel("near", {"yes": 0.45, "no": 0.45, "maybe": 0.1})
    verdict = bbi.assert_indistinguishable(
        TEACHER,
        near,
        PROMPTS,
        budget=bbi.Budget(queries=2000, adversaries=["likelihood"]),
        epsilon=0.5,
        seed=0,
    )
    certificate = verdict.certificate
    assert certificate.advantage_upper < 1 - (1 - certificate.tv_upper) ** 2
    assert certificate.advantage == pytest.approx(0.1, abs=0.03)  # pairwise TV of the tables


def test_a_sequential_certify_game_stops_once_the_certificate_certifies():
    budget = bbi.Budget(queries=1000, adversaries=["stylometric"], sequential=True)
    verdict = bbi.assert_indistinguishable(
        TEACHER, COPY, PROMPTS, budget=budget, epsilon=0.15, mode="certify", seed=0
    )
    assert verdict.decision == "certified"
    assert verdict.queries < 1000
    assert verdict.buckets["all"].certificate.anytime
    assert verdict.buckets["all"].certificate.advantage_upper <= 0.15
    assert verdict.adversaries["stylometric"].upper > 0.15


def test_the_certificate_and_skips_are_valid_report_json():
    schema = report_schema()
    verdict = bbi.assert_indistinguishable(
        TEACHER, COPY, PROMPTS, budget=bbi.Budget(queries=40), epsilon=0.5, seed=0
    )
    assert "likelihood" in verdict.adversaries
    document = json.loads(json.dumps(verdict.to_dict()))
    jsonschema.validate(document, {"$ref": "#/$defs/verdict", "$defs": schema["$defs"]})
    skipped = bbi.assert_indistinguishable(  # the plugin warns about it once, at the end
        BLACK_BOX,
        BLACK_BOX,
        PROMPTS,
        budget=bbi.Budget(queries=40, adversaries=["stylometric", "likelihood"]),
        epsilon=0.5,
        seed=0,
    )
    assert set(skipped.skipped) == {"likelihood"}
    jsonschema.validate(
        json.loads(json.dumps(skipped.to_dict())),
        {"$ref": "#/$defs/verdict", "$defs": schema["$defs"]},
    )


def test_a_teacher_whose_score_misses_its_own_samples_is_refused():
    class Liar(TableModel):
        def score(self, prompts, completions):
            return [-math.inf] * len(completions)

    with pytest.raises(ModelOutputError, match="probability 0"):
        bbi.assert_indistinguishable(
            Liar("liar", {"yes": 1.0}),
            COPY,
            PROMPTS,
            budget=bbi.Budget(queries=20, adversaries=["stylometric"]),
            epsilon=0.5,
            seed=0,
        )
