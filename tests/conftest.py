"""Project-wide test settings: offline mode, derandomized Hypothesis, the ``--runslow`` gate."""

import os

import pytest
from hypothesis import settings

# Property tests are seeded like every other statistical test here: the same examples each run.
settings.register_profile("bbi-tests", derandomize=True, database=None, deadline=None)
settings.load_profile("bbi-tests")

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def pytest_addoption(parser):
    parser.addoption(
        "--runslow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
