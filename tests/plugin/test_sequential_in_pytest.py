"""Sequential games in a user's suite: the same verdicts serial and under -n 2, queries reported."""

import pytest
from verdicts import junit_verdicts

SEQUENTIAL_TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import load
from scripted_models import PROMPTS

TIC = load("python:scripted_models:tic")


@pytest.mark.parametrize("acquisition", ["stratified", "disagreement"])
@pytest.mark.capability("style")
def test_tic_student(teacher, acquisition):
    budget = bbi.Budget(
        queries=600, adversaries=["stylometric"], sequential=True, acquisition=acquisition
    )
    bbi.assert_indistinguishable(teacher, TIC, PROMPTS, budget=budget, epsilon=0.0)


@pytest.mark.capability("style")
def test_identical_student_is_certified(teacher, student):
    budget = bbi.Budget(queries=1200, adversaries=["stylometric"], sequential=True)
    bbi.assert_indistinguishable(
        teacher, student, PROMPTS, budget=budget, epsilon=0.3, mode="certify"
    )
"""


@pytest.fixture
def sequential_project(user_project):
    """The scripted user project, with only the sequential tests run."""
    user_project.makepyfile(test_sequential=SEQUENTIAL_TESTS)
    return user_project


def test_same_sequential_verdicts_serial_and_xdist(sequential_project):
    serial = sequential_project.runpytest_subprocess(
        "test_sequential.py", "--bbi-seed=3", "--junitxml=serial.xml"
    )
    xdist = sequential_project.runpytest_subprocess(
        "test_sequential.py", "-n", "2", "--bbi-seed=3", "--junitxml=xdist.xml"
    )
    for result in (serial, xdist):
        result.assert_outcomes(passed=1, failed=2)
    serial.stdout.fnmatch_lines(
        ["*spent * of 600 queries in * (sequential, disagreement acquisition)*"]
    )
    verdicts = junit_verdicts(sequential_project.path / "serial.xml")
    assert junit_verdicts(sequential_project.path / "xdist.xml") == verdicts
    certified = verdicts["test_identical_student_is_certified"]
    assert certified["decision"] == "certified"
    assert certified["budget_queries"] == 1200
    assert certified["queries"] < 1200
    for acquisition in ("stratified", "disagreement"):
        caught = verdicts[f"test_tic_student[{acquisition}]"]
        assert caught["decision"] == "distinguishable"
        assert caught["acquisition"] == acquisition
        assert caught["queries"] < caught["budget_queries"]
