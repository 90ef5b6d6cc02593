"""The end-of-session table (once, merged across xdist workers) and the JSON and HTML reports."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from pytest_bbi.report import report_schema

TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, teacher_fn, tic_fn

TEACHER = from_callable(teacher_fn, name="teacher")
BUDGET = bbi.Budget(queries=200, adversaries=["stylometric"])


@pytest.mark.capability("style")
def test_style_twin():
    bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=BUDGET, epsilon=0.2)


@pytest.mark.capability("factual")
def test_factual_tic():
    student = from_callable(tic_fn, name="tic")
    bbi.assert_indistinguishable(TEACHER, student, PROMPTS, budget=BUDGET, epsilon=0.1)


@pytest.mark.capability("code")
def test_code_twin():
    bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=BUDGET, epsilon=0.2)


def test_fingerprint():
    bbi.fingerprint(TEACHER, PROMPTS, budget=bbi.Budget(queries=40), embeddings=False)
"""


@pytest.fixture
def project(pytester):
    scripted = (Path(__file__).parents[1] / "scripted.py").read_text()
    pytester.makepyfile(scripted_models=scripted, test_three=TESTS)
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_summary_once_with_every_worker_results_and_valid_reports(project, workers):
    result = project.runpytest_subprocess(
        *workers, "--bbi-seed=3", "--bbi-report=out/report.json", "--bbi-html=out/report.html"
    )
    result.assert_outcomes(passed=3, failed=1)
    output = result.stdout.str()
    assert output.count("bbi: behavioral verdicts (seed=3)") == 1
    result.stdout.fnmatch_lines(
        [
            "*bbi: behavioral verdicts (seed=3)*",
            "*test_code_twin*code*stylometric*",
            "*test_factual_tic*factual*stylometric*distinguishable*",
            "*test_style_twin*style*stylometric*",
            "*test_factual_tic (student 'tic' vs teacher 'teacher'): distinguishable over the 50 "
            "prompts given*; detectable*",
            "*test_style_twin (student 'teacher' vs teacher 'teacher'): undetected over the 50 "
            "prompts given*; detectable advantage 0.*",
            "*test_fingerprint (passed): model fingerprint of model 'teacher': * fields over *",
        ],
        consecutive=False,
    )
    header = next(line for line in result.outlines if line.startswith("test "))
    assert header.split()[-3:] == ["detectable", "queries", "seconds"]
    assert not re.search(r"(?<!assert_)indistinguishable", output)
    report = json.loads((project.path / "out" / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["seed"] == 3
    tests = {entry["nodeid"].split("::")[-1]: entry for entry in report["tests"]}
    assert set(tests) == {
        "test_code_twin",
        "test_factual_tic",
        "test_style_twin",
        "test_fingerprint",
    }
    assert tests["test_factual_tic"]["outcome"] == "failed"
    assert tests["test_fingerprint"]["fingerprints"][0]["kind"] == "model"
    twin = tests["test_style_twin"]["verdicts"][0]
    assert twin["decision"] == "undetected"
    assert 0 < twin["detectable"] < 1
    html = (project.path / "out" / "report.html").read_text()
    assert f"detectable advantage {twin['detectable']:.3f}" in html
    assert not re.search(r"(?<!assert_)indistinguishable", html)
    assert "<svg" in html
    assert "http://" not in html
    assert "https://" not in html


CALIBRATED = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, HedgingStudent, steady_fn

TEACHER = from_callable(steady_fn, name="steady-teacher")


@pytest.mark.capability("factual")
def test_hedging_student():
    verdict = bbi.assert_indistinguishable(
        TEACHER,
        HedgingStudent(),
        PROMPTS,
        budget=bbi.Budget(queries=200, adversaries=["stylometric"]),
        epsilon=0.6,
        calibrate=bbi.Calibrate(agreement="exact", target=0.9),
    )
    assert verdict.calibration.threshold is not None
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_calibration_reaches_the_summary_and_both_reports(pytester, workers):
    scripted = (Path(__file__).parents[1] / "scripted.py").read_text()
    pytester.makepyfile(scripted_models=scripted, test_calibrated=CALIBRATED)
    result = pytester.runpytest_subprocess(
        *workers, "--bbi-report=out/report.json", "--bbi-html=out/report.html"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*bbi: student calibration (fall back to the teacher)*",
            "*test_hedging_student (student 'hedging-student' vs teacher 'steady-teacher') "
            "[[]factual[]]: 200 queries, agreement 0.7*(exact match), "
            "AUROC 1.00; fall back below -0.2*: the student serves 7*% at agreement 1.00*",
        ]
    )
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    [verdict] = report["tests"][0]["verdicts"]
    assert verdict["buckets"]["factual"]["calibration"]["samples"] == 200
    html = (pytester.path / "out" / "report.html").read_text()
    assert 'class="calibration"' in html
    assert 'class="calibration-plot"' in html
    assert ">agreement with the teacher</text>" in html
    assert "fall back below -0.2" in html
