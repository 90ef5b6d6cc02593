"""A warm rerun of an example-suite-like project loads no model and computes no feature.

Tiny ``hf:`` models, loaded lazily as the example suite's are, play the default class with the
likelihood adversary (both score), the white-box certificate and a calibration report
(embedding agreement, token log-probabilities), and the teacher is fingerprinted. The cold run
loads both models and the encoder; the warm rerun reads every completion, score, token
log-probability and embedding from the cache, so it loads nothing at all, and its report is the
cold run's apart from timings.
"""

from __future__ import annotations

import json

import pytest
from feature_counts import COUNTING_CONFTEST, read_counts, without_timings

MODELS = """

import pytest
from pytest_bbi.models import load

OPTIONS = {"lazy": True, "device": "cpu", "max_new_tokens": 24, "batch_size": 32}


@pytest.fixture(scope="session")
def teacher():
    return load("hf:TEACHER", name="teacher", **OPTIONS)


@pytest.fixture(scope="session")
def student():
    return load("hf:STUDENT", name="tic-student", **OPTIONS)
"""

PROJECT_TESTS = """
import pytest_bbi as bbi
from pytest_bbi.models.tiny import PROMPTS

BUDGET = bbi.Budget(queries=64, seconds=120)


def test_the_game_with_calibration(teacher, student):
    try:
        verdict = bbi.assert_indistinguishable(
            teacher, student, PROMPTS, budget=BUDGET, epsilon=0.1,
            calibrate=bbi.Calibrate(similarity=0.6, target=0.8),
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    assert "likelihood" in verdict.adversaries
    assert verdict.certificate is not None
    assert verdict.calibration is not None


def test_fingerprint(teacher):
    bbi.fingerprint(teacher, PROMPTS, budget=BUDGET)
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str) -> dict:
    monkeypatch.setenv("BBI_COUNTS_RUN", name)
    report = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--bbi-report={report}")
    result.assert_outcomes(passed=2)
    counts = read_counts(pytester.path / "counts", name)
    assert len(counts) == 1
    return {"report": json.loads(report.read_text()), "counts": counts[0]}


def test_a_warm_rerun_loads_no_model_no_encoder_and_computes_no_feature(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tiny_teacher_dir, tiny_student_dir
) -> None:
    monkeypatch.setenv("BBI_COUNTS_DIR", str(pytester.path / "counts"))
    models = MODELS.replace("TEACHER", str(tiny_teacher_dir)).replace(
        "STUDENT", str(tiny_student_dir)
    )
    pytester.makepyfile(conftest=COUNTING_CONFTEST + models, test_project=PROJECT_TESTS)

    cold = _run(pytester, monkeypatch, "cold")
    assert sorted(cold["counts"]["loads"]) == ["teacher", "the MiniLM encoder", "tic-student"]
    computed = {kind: tally["computed"] for kind, tally in cold["counts"]["tally"].items()}
    assert set(computed) == {"embedding", "scores", "token-log-probs"}
    assert all(computed.values())

    warm = _run(pytester, monkeypatch, "warm")
    assert warm["counts"]["loads"] == []
    assert not warm["counts"]["sentence_transformers"]
    assert all(tally["computed"] == 0 for tally in warm["counts"]["tally"].values())
    assert without_timings(warm["report"]) == without_timings(cold["report"])
