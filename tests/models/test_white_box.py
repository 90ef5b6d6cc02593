"""White-box tiny models: the likelihood adversary is the strongest, and the certificate holds."""

import pytest

import pytest_bbi as bbi
from pytest_bbi.models import load
from pytest_bbi.models.tiny import PROMPTS

SEEDS = range(4)
"""Seeds per property: each must hold on every one of them (a deterministic list)."""
ADVERSARIES = ["stylometric", "kernel", "likelihood"]


def play(teacher, student, seed, adversaries=ADVERSARIES, queries=160):
    budget = bbi.Budget(queries=queries, adversaries=adversaries)
    try:
        return bbi.assert_indistinguishable(
            teacher, student, PROMPTS, budget=budget, epsilon=0.05, seed=seed
        )
    except bbi.BehaviorFailure as failure:
        return failure.verdict


def check_certificate(verdict):
    certificate = verdict.certificate
    assert certificate is not None
    assert certificate.samples == verdict.queries
    for result in verdict.adversaries.values():
        assert certificate.advantage_upper >= result.lower, (result.name, certificate)
    return certificate


@pytest.fixture(scope="module")
def by_temperature(tiny_soft_teacher_dir):
    """The same weights sampled at temperature 1.0 (teacher) and 0.7 (student)."""
    options = {"max_new_tokens": 24, "batch_size": 32}
    return (
        load(f"hf:{tiny_soft_teacher_dir}", name="t1.0", temperature=1.0, **options),
        load(f"hf:{tiny_soft_teacher_dir}", name="t0.7", temperature=0.7, **options),
    )


def test_temperature_change_likelihood_is_strongest_and_certificate_holds(by_temperature):
    teacher, student = by_temperature
    for seed in SEEDS:
        verdict = play(teacher, student, seed)
        check_certificate(verdict)
        advantages = {name: r.advantage for name, r in verdict.adversaries.items()}
        assert advantages["likelihood"] == max(advantages.values()), (seed, advantages)
        assert verdict.adversaries["likelihood"].rejected


def test_tic_student_certificate_bounds_every_adversary(tiny_teacher_dir, tiny_student_dir):
    teacher = load(f"hf:{tiny_teacher_dir}", name="teacher", max_new_tokens=32)
    student = load(f"hf:{tiny_student_dir}", name="tic", max_new_tokens=32)
    for seed in SEEDS:
        verdict = play(teacher, student, seed, queries=80)
        certificate = check_certificate(verdict)
        assert certificate.tv > 0.9
        assert verdict.adversaries["likelihood"].advantage > 0.9


def test_same_weights_same_decoding_certify_on_the_certificate(tiny_teacher_dir):
    teacher = load(f"hf:{tiny_teacher_dir}", name="teacher", max_new_tokens=24)
    copy = load(f"hf:{tiny_teacher_dir}", name="copy", max_new_tokens=24)
    verdict = bbi.assert_indistinguishable(
        teacher,
        copy,
        PROMPTS,
        budget=bbi.Budget(queries=120, adversaries=["stylometric", "likelihood"]),
        epsilon=0.15,
        mode="certify",
        seed=0,
    )
    assert verdict.decision == "certified"
    assert verdict.certificate.tv == 0.0
    assert verdict.adversaries["stylometric"].upper > 0.15


@pytest.mark.slow
def test_temperature_change_with_the_default_class(by_temperature):
    teacher, student = by_temperature
    for seed in SEEDS:
        verdict = play(teacher, student, seed, adversaries=None)
        check_certificate(verdict)
        advantages = {name: r.advantage for name, r in verdict.adversaries.items()}
        assert "likelihood" in advantages
        assert advantages["likelihood"] == max(advantages.values()), (seed, advantages)
