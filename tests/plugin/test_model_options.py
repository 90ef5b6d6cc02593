"""Per-role backend options from ini, and the judge fixture."""

import pytest

MODELS = """
from pytest_bbi.models import from_callable


def make(temperature=1.0, max_new_tokens=16, greedy=False):
    name = f"t={temperature} n={max_new_tokens} greedy={greedy}"
    return from_callable(lambda prompt, seed: prompt, name=name)


fixed = from_callable(lambda prompt, seed: prompt, name="fixed")
"""


@pytest.fixture
def project(pytester):
    pytester.makepyfile(
        scripted_models=MODELS,
        test_roles="""
        def test_roles(student, judge):
            assert student.name == "t=0.7 n=64 greedy=True"
            assert judge.name == "t=1.0 n=16 greedy=False"
        """,
    )
    return pytester


def test_options_reach_the_factory_and_judge_is_a_fixture(project):
    project.makeini(
        "[pytest]\nbbi_student = python:scripted_models:make\n"
        "bbi_student_options =\n    temperature=0.7\n    max_new_tokens=64\n    greedy=true\n"
        "bbi_judge = python:scripted_models:make\n"
    )
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_malformed_option_line_is_a_usage_error(project):
    project.makeini("[pytest]\nbbi_student_options =\n    temperature 0.7\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bbi_student_options: 'temperature 0.7' must read KEY=VALUE*"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("make", "*rejected them*unexpected keyword argument 'colour'*"),
        ("fixed", "*names a model object, which takes no options (colour)*"),
    ],
)
def test_options_the_backend_does_not_take_fail_the_fixture(project, spec, message):
    project.makeini(
        f"[pytest]\nbbi_student = python:scripted_models:{spec}\n"
        "bbi_student_options =\n    colour=blue\n"
        "bbi_judge = python:scripted_models:make\n"
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
