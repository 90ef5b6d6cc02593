"""Example suite fixtures: the teacher and its students, loaded lazily.

The fixtures return plain models: the plugin puts every model that reaches an assertion behind
the session's generation cache, so a rerun whose completions are all cached loads no weights.
"""

import os

import pytest
import students

# No progress bars from transformers while it loads weights: the plugin prints its own phases.
# (An environment setting, read when transformers is first imported: a warm rerun never is.)
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def teacher_folder():
    return students.teacher_folder()


@pytest.fixture(scope="session")
def teacher(teacher_folder):
    return students.lazy_hf(teacher_folder, "teacher")


@pytest.fixture(scope="session")
def student(teacher_folder):
    """The A/A student: the teacher's own weights, sampled with the student's seeds."""
    return students.lazy_hf(teacher_folder, "teacher-copy")


@pytest.fixture(scope="session")
def bf16_student(teacher_folder):
    """A near-copy: the teacher's weights rounded to bfloat16 and back."""
    return students.lazy_hf(students.bf16_student(teacher_folder), "bf16")


@pytest.fixture(scope="session")
def int8_student(teacher_folder):
    """The teacher with int8 dynamic quantization of its linear layers."""
    return students.lazy_int8(teacher_folder)


@pytest.fixture(scope="session")
def pruned_student(teacher_folder):
    """The teacher with six of its 30 decoder layers dropped."""
    return students.lazy_hf(students.pruned_student(teacher_folder), "pruned")


@pytest.fixture(scope="session")
def distilled_student(teacher_folder, teacher):
    """The pruned student, distilled on the teacher's own answers."""
    pruned = students.pruned_student(teacher_folder)
    folder = students.distilled_student(teacher_folder, pruned, teacher)
    return students.lazy_hf(folder, "distilled")
