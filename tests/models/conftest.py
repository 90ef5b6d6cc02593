"""Fixtures for the model-backend tests: tiny teacher and student models, built once and cached."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # The tiny models gain nothing from intra-op threads, and on a busy machine (xdist workers,
    # parallel jobs) spinning OpenMP threads make them up to 100x slower.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_model(request: pytest.FixtureRequest, variant: str) -> pathlib.Path:
    from pytest_bbi.models.tiny import build_tiny_model

    assert request.config.cache is not None, "the tiny models live in pytest's cache directory"
    return build_tiny_model(
        request.config.cache.mkdir("bbi-tiny-models") / variant, variant=variant
    )


@pytest.fixture(scope="session")
def tiny_teacher_dir(request: pytest.FixtureRequest) -> pathlib.Path:
    return _tiny_model(request, "teacher")


@pytest.fixture(scope="session")
def tiny_student_dir(request: pytest.FixtureRequest) -> pathlib.Path:
    return _tiny_model(request, "student")


@pytest.fixture(scope="session")
def tiny_soft_teacher_dir(request: pytest.FixtureRequest) -> pathlib.Path:
    """The teacher trained only 40 steps: a spread-out distribution, so temperature matters."""
    from pytest_bbi.models.tiny import build_tiny_model

    assert request.config.cache is not None, "the tiny models live in pytest's cache directory"
    directory = request.config.cache.mkdir("bbi-tiny-models") / "teacher-40"
    return build_tiny_model(directory, train_steps=40)
