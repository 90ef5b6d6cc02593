"""``--bbi-reference=hf:…`` as a user runs it: a tiny local model scores for two black-box models.

Slow (a torch import and a model load per process); the default run covers the same path with a
``python:`` reference (tests/plugin/test_reference_in_pytest.py).

The teacher and the student are scripted callables (no ``score``, no token log-probabilities,
as API models), so the ``reference`` adversary joins the default class only because a reference
model is configured, and the ``rank`` adversary named in the budget samples that model. The
cold run is serial and loads the reference once; the warm rerun under ``-n 2`` loads no model,
computes no token log-probability in any process, and reports what the cold run reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feature_counts import COUNTING_CONFTEST, read_counts, without_timings

TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.adversaries.local import joins_default_class
from pytest_bbi.adversaries.rank import RankAdversary
from scripted_models import PROMPTS, teacher_fn, tic_fn
from pytest_bbi.models import from_callable

TEACHER = from_callable(teacher_fn, name="api-teacher")
STUDENTS = {
    "tic": from_callable(lambda prompt, seed: tic_fn(prompt, seed, 1.0), name="tic"),
    "copy": from_callable(teacher_fn, name="copy"),
}


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_the_reference_scores_for_black_box_models(name):
    assert joins_default_class(TEACHER, STUDENTS[name])
    budget = bbi.Budget(
        queries=40, adversaries=["stylometric", "reference", RankAdversary(samples=3)]
    )
    try:
        verdict = bbi.assert_indistinguishable(
            TEACHER, STUDENTS[name], PROMPTS[:20], budget=budget, epsilon=0.2
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    assert set(verdict.adversaries) == {"stylometric", "reference", "rank"}
    assert verdict.adversaries["rank"].details == {"local_samples": 3 * 20}
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, *args: str):
    monkeypatch.setenv("BBI_COUNTS_RUN", name)
    report = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--bbi-report={report}", *args
    )
    result.assert_outcomes(passed=2)
    return json.loads(report.read_text()), read_counts(pytester.path / "counts", name)


@pytest.mark.slow
def test_an_hf_reference_loads_once_cold_and_never_warm_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tiny_teacher_dir: Path
) -> None:
    monkeypatch.setenv("BBI_COUNTS_DIR", str(pytester.path / "counts"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a tiny model on a busy machine: one thread
    scripted = (Path(__file__).parents[1] / "scripted.py").read_text()
    pytester.makepyfile(conftest=COUNTING_CONFTEST, scripted_models=scripted, test_ref=TESTS)
    pytester.makeini("[pytest]\nbbi_reference_options =\n    device=cpu\n    max_new_tokens=16\n")
    reference = f"--bbi-reference=hf:{tiny_teacher_dir}"

    cold_report, cold = _run(pytester, monkeypatch, "cold", reference)
    assert len(cold) == 1
    assert cold[0]["loads"] == [tiny_teacher_dir.name]  # loaded once, lazily, for both tests
    assert cold[0]["tally"]["token-log-probs"]["computed"] > 0

    warm_report, warm = _run(pytester, monkeypatch, "warm", reference, "-n", "2")
    assert len(warm) == 3  # the controller and two workers
    for process in warm:
        assert process["loads"] == []
        assert all(tally["computed"] == 0 for tally in process["tally"].values())
    assert sum(p["tally"].get("token-log-probs", {}).get("read", 0) for p in warm) > 0
    assert without_timings(warm_report["tests"]) == without_timings(cold_report["tests"])
