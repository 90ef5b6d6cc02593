"""Capabilities in a user's suite: default prompts, selection, ini overrides, strategies, -n 2."""

import pytest
from verdicts import junit_verdicts

MODELS = """
import random
from pytest_bbi.models import from_callable

def _answer(prompt, seed):
    rng = random.Random(f"{seed}:{prompt}")
    return rng.choice(["Sure.", "Certainly.", "Here you go."]) + " " + prompt[:20]

def _tic(prompt, seed):
    return _answer(prompt, seed) + (" Cheers!" if random.Random(seed).random() < 0.5 else "")

teacher = from_callable(_answer, name="teacher")
twin = from_callable(_answer, name="twin")
tic = from_callable(_tic, name="tic")
"""

TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.strategies import code_prompts

BUDGET = bbi.Budget(queries=200, adversaries=["stylometric"])


@pytest.mark.capability("style")
def test_style_defaults(teacher, student):
    verdict = bbi.assert_indistinguishable(teacher, student, budget=BUDGET, epsilon=0.1)
    assert list(verdict.buckets) == ["style"]


@pytest.mark.capability("code")
def test_code_strategy(teacher, student):
    bbi.assert_indistinguishable(teacher, student, code_prompts(), budget=BUDGET, epsilon=0.1)


def test_unmarked(teacher, student):
    bbi.assert_indistinguishable(teacher, student, ["a", "b"], budget=BUDGET, epsilon=0.1)
"""


@pytest.fixture
def project(pytester):
    pytester.makepyfile(scripted_models=MODELS, test_caps=TESTS)
    return pytester


def test_bucket_defaults_strategies_and_xdist_agree(project):
    args = [
        "--bbi-teacher=python:scripted_models:teacher",
        "--bbi-student=python:scripted_models:tic",
    ]
    serial = project.runpytest_subprocess(*args, "--junitxml=serial.xml")
    xdist = project.runpytest_subprocess(*args, "-n", "2", "--junitxml=xdist.xml")
    serial.assert_outcomes(failed=3)
    xdist.assert_outcomes(failed=3)
    serial.stdout.fnmatch_lines(["*distinguishable*on capability 'style'*"])
    first = junit_verdicts(project.path / "serial.xml")
    assert first == junit_verdicts(project.path / "xdist.xml")
    assert set(first) == {"test_style_defaults", "test_code_strategy", "test_unmarked"}
    assert first["test_style_defaults"]["buckets"]["style"]["queries"] == 200


def test_capability_selection_and_twin_passes(project):
    result = project.runpytest_subprocess(
        "--bbi-teacher=python:scripted_models:teacher",
        "--bbi-student=python:scripted_models:twin",
        "--bbi-capability=style",
        "--bbi-capability=code",
    )
    result.assert_outcomes(passed=2, deselected=1)


def test_unknown_selected_capability_is_a_usage_error(project):
    result = project.runpytest_subprocess("--bbi-capability=stlye")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--bbi-capability: unknown capability 'stlye'; valid*"])


def test_bucket_epsilon_override_from_ini(project):
    project.makeini(
        "[pytest]\nbbi_teacher = python:scripted_models:teacher\n"
        "bbi_student = python:scripted_models:tic\nbbi_bucket_epsilon =\n    style=0.9\n"
    )
    result = project.runpytest_subprocess("-k", "style")
    result.assert_outcomes(passed=1, deselected=2)


@pytest.mark.parametrize("line", ["style", "style=1.5", "stlye=0.1"])
def test_bad_bucket_override_is_a_usage_error(project, line):
    project.makeini(f"[pytest]\nbbi_bucket_epsilon =\n    {line}\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini bbi_bucket_epsilon: *"])
