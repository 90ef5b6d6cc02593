"""Project-wide test settings: offline mode, derandomized Hypothesis, the ``--runslow`` and
``--replications`` gates, in-process games off the generation cache, and the tiny models (built
once into pytest's cache directory and shared by every test folder)."""

import dataclasses
import os
import pathlib

import pytest
from hypothesis import settings

from pytest_bbi import context

# Property tests are seeded like every other statistical test here: the same examples each run.
settings.register_profile("bbi-tests", derandomize=True, database=None, deadline=None)
settings.load_profile("bbi-tests")

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The processes the tests start (pytester's runs, the documented scripts) write bytecode even
# where the machine sets PYTHONDONTWRITEBYTECODE: without it each of them compiles this package
# again and rewrites the asserts of every pytest plugin it imports (Hypothesis, syrupy, anyio,
# xdist: about 140 modules), seconds per process over some 200 processes.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_addoption(parser):
    parser.addoption(
        "--runslow", action="store_true", default=False, help="also run tests marked slow"
    )
    parser.addoption(
        "--replications",
        action="store_true",
        default=False,
        help="also run the seeded end-to-end replications (marked replication)",
    )


def pytest_collection_modifyitems(config, items):
    gates = {
        "slow": (config.getoption("--runslow"), "slow: run with --runslow"),
        "replication": (
            config.getoption("--replications"),
            "a seeded replication of the whole game: run with --replications",
        ),
    }
    for marker, (wanted, reason) in gates.items():
        if wanted:
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _off_the_generation_cache():
    """In-process games here run off the generation and feature caches the plugin gives them.

    These tests call the engine with scripted, tiny or served models and count their calls, and
    the repository's warm ``.bbi_cache`` would answer for them. The plugin's caching is tested
    as a user meets it, through pytester (tests/plugin/test_every_model_cached.py); a test that
    wants a cache activates one.
    """
    restore = context.activate(
        dataclasses.replace(context.current(), cache=lambda model: model, features=lambda: None)
    )
    yield
    restore()


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
