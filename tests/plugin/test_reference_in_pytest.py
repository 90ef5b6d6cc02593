"""``--bbi-reference`` as a user runs it: a local model scores for two black-box models.

The teacher and the student answer as APIs do (text only), so the ``reference`` adversary
joins the default class only because ``--bbi-reference`` names a local model (a ``python:``
factory here, a scripted scorer; tests/models/test_reference_hf_in_pytest.py runs a tiny
``hf:`` one), and the ``rank`` adversary named in the budget samples that model. The cold run is
serial; the warm rerun under ``-n 2`` computes no token log-probability in any process and
reports exactly what the cold run reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feature_counts import COUNTING_CONFTEST, read_counts, without_timings

REFERENCE = """
from scoring_world import WordModel

def local_twin():
    return WordModel("local twin")
"""

TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.adversaries.local import joins_default_class
from pytest_bbi.adversaries.rank import RankAdversary
from scoring_world import PROMPTS, BlackBox, WordModel

TEACHER = BlackBox(WordModel("api-teacher"))
STUDENTS = {"hot": BlackBox(WordModel("hot", 2.0)), "copy": BlackBox(WordModel("copy"))}


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_the_reference_scores_for_black_box_models(name):
    assert joins_default_class(TEACHER, STUDENTS[name])  # --bbi-reference makes it a default
    budget = bbi.Budget(queries=120, adversaries=["reference", RankAdversary(samples=3)])
    try:
        verdict = bbi.assert_indistinguishable(
            TEACHER, STUDENTS[name], PROMPTS[:60], budget=budget, epsilon=0.1
        )
    except bbi.BehaviorFailure as failure:
        verdict = failure.verdict
    assert set(verdict.adversaries) == {"reference", "rank"}
    assert verdict.adversaries["rank"].details == {"local_samples": 3 * 60}
    if name == "hot":  # (the copy's false-failure rate is the unit replications' business)
        assert not verdict.passed
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, *args: str):
    monkeypatch.setenv("BBI_COUNTS_RUN", name)
    report = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--bbi-reference=python:local:local_twin",
        f"--bbi-report={report}",
        *args,
    )
    result.assert_outcomes(passed=2)
    return json.loads(report.read_text()), read_counts(pytester.path / "counts", name)


def test_a_reference_scores_cold_serial_and_warm_under_xdist_computes_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BBI_COUNTS_DIR", str(pytester.path / "counts"))
    world = (Path(__file__).parents[1] / "scoring_world.py").read_text()
    pytester.makepyfile(
        conftest=COUNTING_CONFTEST, scoring_world=world, local=REFERENCE, test_ref=TESTS
    )

    cold_report, cold = _run(pytester, monkeypatch, "cold")
    assert len(cold) == 1
    assert cold[0]["tally"]["token-log-probs"]["computed"] > 0

    warm_report, warm = _run(pytester, monkeypatch, "warm", "-n", "2")
    assert len(warm) == 3  # the controller and two workers
    assert all(tally["computed"] == 0 for process in warm for tally in process["tally"].values())
    assert sum(p["tally"].get("token-log-probs", {}).get("read", 0) for p in warm) > 0
    assert without_timings(warm_report["tests"]) == without_timings(cold_report["tests"])
