"""Example suite fixtures: the teacher and its students, lazily loaded behind the cache."""

import os
from pathlib import Path

import pytest
import students
import torch
from transformers.utils import logging

from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.progress import ProgressFile

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # under `-n 2` on two cores, one core per worker
logging.disable_progress_bar()


def _cached(model, bbi_cache):
    """The model behind the generation cache, unless the run passed --bbi-no-cache."""
    if bbi_cache is None:
        return model
    process = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
    progress = ProgressFile(Path(bbi_cache.path).parent / "progress", process)
    return CachedModel(model, bbi_cache, progress=progress)


@pytest.fixture(scope="session")
def teacher_folder():
    return students.teacher_folder()


@pytest.fixture(scope="session")
def teacher(teacher_folder, bbi_cache):
    return _cached(students.lazy_hf(teacher_folder, "teacher"), bbi_cache)


@pytest.fixture(scope="session")
def student(teacher_folder, bbi_cache):
    """The A/A student: the teacher's own weights, sampled with the student's seeds."""
    return _cached(students.lazy_hf(teacher_folder, "teacher-copy"), bbi_cache)


@pytest.fixture(scope="session")
def bf16_student(teacher_folder, bbi_cache):
    """A near-copy: the teacher's weights rounded to bfloat16 and back."""
    return _cached(students.lazy_hf(students.bf16_student(teacher_folder), "bf16"), bbi_cache)


@pytest.fixture(scope="session")
def int8_student(teacher_folder, bbi_cache):
    """The teacher with int8 dynamic quantization of its linear layers."""
    return _cached(students.lazy_int8(teacher_folder), bbi_cache)


@pytest.fixture(scope="session")
def pruned_student(teacher_folder, bbi_cache):
    """The teacher with six of its 30 decoder layers dropped."""
    return _cached(students.lazy_hf(students.pruned_student(teacher_folder), "pruned"), bbi_cache)


@pytest.fixture(scope="session")
def distilled_student(teacher_folder, teacher, bbi_cache):
    """The pruned student, distilled on the teacher's own answers."""
    pruned = students.pruned_student(teacher_folder)
    folder = students.distilled_student(teacher_folder, pruned, teacher)
    return _cached(students.lazy_hf(folder, "distilled"), bbi_cache)
