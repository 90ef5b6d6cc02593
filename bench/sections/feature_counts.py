"""A pytest plugin for the bench's runs: each process writes what it loaded and computed.

Loaded with ``-p feature_counts`` (``bench/sections`` on ``PYTHONPATH``) when
``BBI_BENCH_COUNTS`` names a folder; every process (the controller, each xdist worker) writes
one JSON file there at the end of its session: the models and encoders it loaded, in order, and
per feature kind how many it read from the cache and how many it computed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

COUNTS_ENV = "BBI_BENCH_COUNTS"


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get(COUNTS_ENV)
    if not folder:
        return
    from pytest_bbi.generation.features import tally
    from pytest_bbi.models.uncounted import loads

    name = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}.json"
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / name).write_text(
        json.dumps({"loads": list(loads()), "tally": tally()}), encoding="utf-8"
    )
