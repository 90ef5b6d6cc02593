"""A warm rerun reads every embedding from the feature cache: no encoder load, no embedding.

A user project plays the default adversary class (stylometric, embedding, kernel) and takes a
fingerprint. The cold run embeds each text once across two xdist workers; a warm rerun, serial
and under ``-n 2``, never loads the MiniLM encoder (nor imports sentence-transformers) and
computes nothing, and its report is the cold run's, byte for byte apart from timings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feature_counts import COUNTING_CONFTEST, read_counts, without_timings

SCRIPTED = (Path(__file__).parent.parent / "scripted.py").read_text()

PROJECT_TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, teacher_fn, tic_fn

BUDGET = bbi.Budget(queries=120, seconds=120)


@pytest.fixture(scope="session")
def teacher():
    return from_callable(teacher_fn, name="teacher")


@pytest.mark.capability("style")
def test_identical_student(teacher):
    student = from_callable(teacher_fn, name="identical-student")
    bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=0.2)


@pytest.mark.capability("style")
def test_tic_student(teacher):
    student = from_callable(tic_fn, name="tic-student")
    with pytest.raises(bbi.Distinguishable):
        bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=0.2)


@pytest.mark.capability("style")
def test_fingerprint(teacher):
    bbi.fingerprint(teacher, PROMPTS, budget=BUDGET)
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, *workers: str
) -> dict:
    monkeypatch.setenv("BBI_COUNTS_RUN", name)
    report = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--bbi-report={report}", *workers
    )
    result.assert_outcomes(passed=3)
    counts = read_counts(pytester.path / "counts", name)
    return {"report": json.loads(report.read_text()), "counts": counts}


def test_a_warm_rerun_loads_no_encoder_and_embeds_nothing_serial_and_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BBI_COUNTS_DIR", str(pytester.path / "counts"))
    pytester.makepyfile(
        scripted_models=SCRIPTED, conftest=COUNTING_CONFTEST, test_project=PROJECT_TESTS
    )

    cold = _run(pytester, monkeypatch, "cold", "-n", "2")
    assert any("the MiniLM encoder" in process["loads"] for process in cold["counts"])
    embedded = sum(p["tally"].get("embedding", {}).get("computed", 0) for p in cold["counts"])
    assert embedded > 0

    for name, workers in (("warm-serial", ()), ("warm-xdist", ("-n", "2"))):
        warm = _run(pytester, monkeypatch, name, *workers)
        assert len(warm["counts"]) == (1 if not workers else 3)  # the controller reports too
        for process in warm["counts"]:
            assert process["loads"] == []
            assert not process["sentence_transformers"]
            assert all(kind["computed"] == 0 for kind in process["tally"].values())
        read = sum(p["tally"].get("embedding", {}).get("read", 0) for p in warm["counts"])
        assert read >= embedded
        assert without_timings(warm["report"]) == without_timings(cold["report"])
