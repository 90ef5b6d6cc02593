"""Verdicts independent of machine load: the same seed gives the same verdict JSON, busy or idle.

Issue 15, must-show 8. Every built-in adversary stops after a fixed amount of work, never when
the clock says so, and ``Budget.seconds`` is only a safety limit (generous here): so a session
run with two CPU-burning processes beside it writes, timings aside, the same bytes as one run
without them.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, teacher_fn, tic_fn

TEACHER = from_callable(teacher_fn, name="teacher")
BUDGET = bbi.Budget(queries=120, seconds=600)  # the default class: stylometric, embedding, kernel


def test_twin():
    bbi.assert_indistinguishable(TEACHER, TEACHER, PROMPTS, budget=BUDGET, epsilon=0.2)


def test_tic():
    student = from_callable(tic_fn, name="tic")
    bbi.assert_indistinguishable(TEACHER, student, PROMPTS, budget=BUDGET, epsilon=0.1)
"""

TIMINGS = ("seconds", "generation_seconds")
BURN = "while True:\n    pass\n"


def _without_timings(value):
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _verdict_bytes(pytester, name):
    result = pytester.runpytest_subprocess(
        "--bbi-seed=5", "--bbi-no-cache", f"--bbi-report=out/{name}.json"
    )
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "out" / f"{name}.json").read_text())
    verdicts = {test["nodeid"]: test["verdicts"] for test in report["tests"]}
    return json.dumps(_without_timings(verdicts), sort_keys=True, indent=1).encode()


@pytest.mark.replication
def test_two_cpu_burners_beside_the_session_change_no_byte_of_the_verdicts(pytester):
    pytester.makepyfile(
        scripted_models=(Path(__file__).parents[1] / "scripted.py").read_text(), test_load=TESTS
    )
    idle = _verdict_bytes(pytester, "idle")
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    try:
        loaded = _verdict_bytes(pytester, "loaded")
        assert all(burner.poll() is None for burner in burners)  # they burned throughout
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert b'"overrun": null' in idle
    assert b'"overrun": "' not in loaded
    assert loaded == idle
