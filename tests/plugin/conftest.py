"""A scripted user project for pytester: teacher, identical and tic students as python: specs."""

from pathlib import Path

import pytest

SCRIPTED = (Path(__file__).parent.parent / "scripted.py").read_text()

MODELS = (
    SCRIPTED
    + """

from pytest_bbi.models import from_callable

teacher = from_callable(teacher_fn, name="teacher")
identical = from_callable(teacher_fn, name="identical-student")
tic = from_callable(tic_fn, name="tic-student")
"""
)

USER_TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import load
from scripted_models import PROMPTS


@pytest.mark.capability("style")
def test_identical_student(teacher, student):
    bbi.assert_indistinguishable(
        teacher, student, PROMPTS, budget=bbi.Budget(queries=300, seconds=60), epsilon=0.1
    )


@pytest.mark.capability("style")
def test_tic_student(teacher):
    bbi.assert_indistinguishable(
        teacher, load("python:scripted_models:tic"), PROMPTS,
        budget=bbi.Budget(queries=300, seconds=60), epsilon=0.1,
    )
"""


@pytest.fixture
def user_project(pytester):
    """A project with scripted models and two behavioral tests; returns run arguments."""
    pytester.makepyfile(scripted_models=MODELS, test_behavior=USER_TESTS)
    pytester.makeini(
        "[pytest]\n"
        "bbi_teacher = python:scripted_models:teacher\n"
        "bbi_student = python:scripted_models:identical\n"
    )
    return pytester
