"""Fingerprint snapshots in syrupy: missing, written, stable across seeds, failing on change."""

import json
import re
from pathlib import Path

import pytest

from pytest_bbi.fingerprints import SCHEMA_VERSION

SCRIPTED_TEST = """
import os

import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, teacher_fn, tic_fn


def strong_tic(prompt, seed):
    return tic_fn(prompt, seed, rate=0.6)


def test_student_fingerprint(bbi_snapshot):
    behavior = strong_tic if os.environ.get("BBI_TEST_MODEL") == "tic" else teacher_fn
    student = from_callable(behavior, name="student")
    prompts = {"style": PROMPTS[:25], "factual": PROMPTS[25:]}
    budget = bbi.Budget(queries=400)
    fingerprint = bbi.fingerprint(student, prompts, budget=budget, embeddings=False)
    assert fingerprint == bbi_snapshot
"""

SNAPSHOT = "__snapshots__/test_fp/test_student_fingerprint.json"


@pytest.fixture
def project(pytester):
    scripted = (Path(__file__).parents[1] / "scripted.py").read_text()
    pytester.makepyfile(scripted_models=scripted, test_fp=SCRIPTED_TEST)
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_snapshot_round_trip(project, monkeypatch, workers):
    # Seed 1 writes the snapshot and seed 2 replays it: a same-model rerun passes with
    # probability ≥ 1 − α by design; these fixed seeds make the outcome reproducible.
    workers = [*workers, "--bbi-seed=1"]
    missing = project.runpytest_subprocess(*workers)
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*Snapshot 'test_student_fingerprint' does not exist!*"])
    assert not (project.path / SNAPSHOT).exists()

    project.runpytest_subprocess(*workers, "--snapshot-update").assert_outcomes(passed=1)
    written = (project.path / SNAPSHOT).read_text()
    assert json.loads(written)["schema"] == "pytest-bbi/fingerprint"

    project.runpytest_subprocess(*workers).assert_outcomes(passed=1)
    if not workers[:-1]:  # a new seed is a statistical check, shown once: xdist changes no number
        project.runpytest_subprocess(*workers, "--bbi-seed=2").assert_outcomes(passed=1)
    assert (project.path / SNAPSHOT).read_text() == written

    monkeypatch.setenv("BBI_TEST_MODEL", "tic")
    changed = project.runpytest_subprocess(*workers)
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*fingerprint differs from*test_student_fingerprint.json*"])
    assert "p=" in changed.stdout.str()
    assert "style/" in changed.stdout.str()
    assert (project.path / SNAPSHOT).read_text() == written


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text[:-20], "*test_student_fingerprint.json*"),
        (
            lambda text: text.replace('"statistics"', '"statistix"'),
            "*test_student_fingerprint.json*",
        ),
        (
            lambda text: text.replace(f'"version": {SCHEMA_VERSION}', '"version": 99'),
            "*newer pytest-bbi*",
        ),
        (
            lambda text: "",
            "*test_student_fingerprint.json: the file is empty; rewrite it with --snapshot-update*",
        ),
        (
            lambda text: re.sub(r'"n": \d+', f'"n": {10**400}', text, count=1),
            "*test_student_fingerprint.json:*n is a number of more than 24 digits, beyond the"
            " largest number a fingerprint holds (1,000,000,000)*",
        ),
        (
            lambda text: text.replace(
                '"metadata": {', '"metadata": {"x": ' + "[" * 50_000 + "]" * 50_000 + ", ", 1
            ),
            "*test_student_fingerprint.json: the document is nested too deeply*",
        ),
    ],
    ids=["invalid-json", "missing-field", "newer-version", "empty", "huge-number", "deep"],
)
def test_broken_snapshot_fails_with_a_clear_message(project, edit, message):
    project.runpytest_subprocess("--snapshot-update").assert_outcomes(passed=1)
    path = project.path / SNAPSHOT
    path.write_text(edit(path.read_text()))
    result = project.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()
