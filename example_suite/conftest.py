"""Example suite fixtures: a tiny transformer teacher and students, built offline and cached.

The `teacher` and `student` fixtures of pytest-bbi are overridden here, the way a project wires in
its own models. The models are trained from a config in seconds and kept under `.bbi_cache/`.
"""

from pathlib import Path

import pytest

from pytest_bbi.models import load
from pytest_bbi.models.tiny import build_tiny_model

MODELS = Path(__file__).resolve().parent.parent / ".bbi_cache" / "example-models"


@pytest.fixture(scope="session")
def teacher():
    return load(f"hf:{build_tiny_model(MODELS / 'teacher', variant='teacher')}", name="teacher")


@pytest.fixture(scope="session")
def student(teacher):
    """The A/A student: the teacher's own weights, sampled with the student's seeds."""
    return load(f"hf:{build_tiny_model(MODELS / 'teacher', variant='teacher')}", name="student")


@pytest.fixture(scope="session")
def tic_student():
    """A student trained on the same data, except that every answer ends with ' Cheers!'."""
    path = build_tiny_model(MODELS / "tic-student", variant="student")
    return load(f"hf:{path}", name="tic-student")
