"""Counting what a pytester project's processes load and compute, for the warm-rerun tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COUNTING_CONFTEST = """
import json
import os
import sys


def pytest_sessionfinish(session):
    # Each process (controller, xdist workers) writes what it loaded and computed.
    from pytest_bbi.generation.features import tally
    from pytest_bbi.models.uncounted import loads

    folder = os.path.join(os.environ["BBI_COUNTS_DIR"], os.environ["BBI_COUNTS_RUN"])
    os.makedirs(folder, exist_ok=True)
    name = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}.json"
    with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
        json.dump(
            {
                "loads": list(loads()),
                "tally": tally(),
                "sentence_transformers": "sentence_transformers" in sys.modules,
            },
            out,
        )
"""
"""A ``conftest.py`` whose every process writes its loads and feature tally at the end."""


def read_counts(folder: Path, run: str) -> list[dict[str, Any]]:
    """What each process of run ``run`` wrote (see :data:`COUNTING_CONFTEST`)."""
    return [json.loads(path.read_text()) for path in sorted((folder / run).glob("*.json"))]


def without_timings(value: Any) -> Any:
    """A report with every ``*seconds`` field removed: what two identical runs share."""
    if isinstance(value, dict):
        return {
            key: without_timings(item) for key, item in value.items() if not key.endswith("seconds")
        }
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value
