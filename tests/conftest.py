"""Project-wide test settings: offline mode, derandomized Hypothesis, the ``--runslow`` and
``--replications`` gates."""

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
