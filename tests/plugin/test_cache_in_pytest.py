"""The generation cache in a user's suite: once per completion across xdist workers, then free."""

import pytest
from verdicts import junit_verdicts

MODELS = """
import os
import random

from pytest_bbi.models import from_callable


def _counting(name):
    def generate(prompts, seeds):
        with open(os.path.join(os.environ["BBI_CALLS_DIR"], name), "a") as log:
            for prompt, seed in zip(prompts, seeds):
                log.write(f"{seed}\\n")
        return [
            random.Random(f"{seed}:{prompt}").choice(["yes.", "no.", "maybe."])
            for prompt, seed in zip(prompts, seeds)
        ]

    return from_callable(generate, name=name, batched=True)


teacher = _counting("teacher")
student = _counting("student")
"""

TESTS = """
import pytest
import pytest_bbi as bbi

PROMPTS = [f"question {i}" for i in range(30)]


@pytest.mark.parametrize("epsilon", [0.2, 0.3, 0.4, 0.5])
def test_same_prompts(teacher, student, epsilon):
    budget = bbi.Budget(queries=60, adversaries=["stylometric"])
    bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=budget, epsilon=epsilon)
"""


@pytest.fixture
def project(pytester, tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    calls.mkdir()
    monkeypatch.setenv("BBI_CALLS_DIR", str(calls))
    pytester.makepyfile(scripted_models=MODELS, test_cached=TESTS)
    pytester.makeini(
        "[pytest]\nbbi_teacher = python:scripted_models:teacher\n"
        "bbi_student = python:scripted_models:student\n"
    )
    return pytester, calls


def _generated(calls):
    return {
        role: (calls / role).read_text().split() if (calls / role).exists() else []
        for role in ("teacher", "student")
    }


def test_four_tests_under_xdist_generate_each_completion_once_and_a_rerun_none(project):
    pytester, calls = project
    pytester.runpytest_subprocess("-n", "2", "--junitxml=cold.xml").assert_outcomes(passed=4)
    first = _generated(calls)
    for role in ("teacher", "student"):
        assert len(first[role]) == 60
        assert len(set(first[role])) == 60
    pytester.runpytest_subprocess("-n", "2", "--junitxml=warm.xml").assert_outcomes(passed=4)
    assert _generated(calls) == first
    pytester.runpytest_subprocess("--junitxml=serial.xml").assert_outcomes(passed=4)
    assert _generated(calls) == first
    cold = junit_verdicts(pytester.path / "cold.xml")
    assert len(cold) == 4
    assert junit_verdicts(pytester.path / "warm.xml") == cold
    assert junit_verdicts(pytester.path / "serial.xml") == cold


def test_no_cache_generates_again_and_cache_clear_empties_it(project):
    pytester, calls = project
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    assert len(_generated(calls)["teacher"]) == 60
    pytester.runpytest_subprocess("-k", "0.2", "--bbi-no-cache").assert_outcomes(
        passed=1, deselected=3
    )
    assert len(_generated(calls)["teacher"]) == 120
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    assert len(_generated(calls)["teacher"]) == 120
    pytester.runpytest_subprocess("-k", "0.2", "--bbi-cache-clear").assert_outcomes(
        passed=1, deselected=3
    )
    assert len(_generated(calls)["teacher"]) == 180
    assert (pytester.path / ".bbi_cache" / "generations.sqlite3").exists()
