"""Every model that reaches the game goes through the session's cache, however it was made.

A user's own ``teacher``/``student`` fixtures, ``load()`` inside a test, a model made in the
test for ``assert_agree`` and ``fingerprint``, a judge and a calibrated student: each completion
is generated once across xdist workers and a warm rerun generates none; editing a callable's
body changes its identity, so the rerun regenerates instead of serving stale completions.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

ANSWERS = """
import json
import os
import random


def _log(role, prompt, seed):
    with open(os.path.join(os.environ["BBI_CALLS_DIR"], role), "a", encoding="utf-8") as log:
        log.write(json.dumps([prompt, seed]) + "\\n")


def teacher_answer(prompt, seed):
    _log("teacher", prompt, seed)
    return random.Random(f"{seed}:{prompt}").choice(["yes.", "no.", "maybe."])


def student_answer(prompt, seed):
    _log("student", prompt, seed)
    return random.Random(f"{seed}:{prompt}").choice(["yes.", "no.", "maybe."])
"""

OWN_FIXTURES = (
    ANSWERS
    + """

import pytest

from pytest_bbi.models import from_callable


@pytest.fixture(scope="session")
def teacher():
    return from_callable(teacher_answer, name="teacher")


@pytest.fixture(scope="session")
def student():
    return from_callable(student_answer, name="student")
"""
)

FOUR_TESTS = """
import pytest
import pytest_bbi as bbi

PROMPTS = [f"question {index}" for index in range(300)]
BUDGET = bbi.Budget(queries=300, adversaries=["stylometric"])


@pytest.mark.parametrize("epsilon", [0.2, 0.3, 0.4])
def test_indistinguishable(teacher, student, epsilon):
    bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=epsilon)


def test_fingerprint(teacher):
    bbi.fingerprint(teacher, PROMPTS, budget=BUDGET, embeddings=False)
"""

LOADED_MODELS = (
    ANSWERS
    + """

from pytest_bbi.models import from_callable

teacher = from_callable(teacher_answer, name="teacher")
student = from_callable(student_answer, name="student")
"""
)

FOUR_TESTS_LOADING = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import load

PROMPTS = [f"question {index}" for index in range(300)]
BUDGET = bbi.Budget(queries=300, adversaries=["stylometric"])


@pytest.mark.parametrize("epsilon", [0.2, 0.3, 0.4, 0.5])
def test_indistinguishable(epsilon):
    teacher = load("python:user_models:teacher")
    student = load("python:user_models:student")
    bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=epsilon)
"""


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """The folder where the user's models log every completion they generate."""
    folder = tmp_path / "calls"
    folder.mkdir()
    monkeypatch.setenv("BBI_CALLS_DIR", str(folder))
    return folder


def _generated(calls, role):
    """Every (prompt, seed) the role's model generated, one per call, in a Counter."""
    path = calls / role
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return Counter(tuple(json.loads(line)) for line in lines)


def _each_once(calls, role, expected):
    generated = _generated(calls, role)
    assert sum(generated.values()) == expected, f"{role} generated {generated.total()} times"
    assert set(generated.values()) == {1}, f"{role} generated some completion twice"


def test_a_users_own_fixtures_generate_each_completion_once_under_xdist_and_a_rerun_none(
    pytester, calls
):
    pytester.makeconftest(OWN_FIXTURES)
    pytester.makepyfile(test_four=FOUR_TESTS)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=4)
    for role in ("teacher", "student"):
        _each_once(calls, role, 300)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=4)
    for role in ("teacher", "student"):
        _each_once(calls, role, 300)


def test_models_loaded_inside_the_tests_generate_each_completion_once_and_a_rerun_none(
    pytester, calls
):
    pytester.makepyfile(user_models=LOADED_MODELS, test_four=FOUR_TESTS_LOADING)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=4)
    for role in ("teacher", "student"):
        _each_once(calls, role, 300)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=4)
    for role in ("teacher", "student"):
        _each_once(calls, role, 300)


def test_editing_a_callables_body_regenerates_its_completions_and_moving_it_does_not(
    pytester, calls
):
    pytester.makeconftest(OWN_FIXTURES)
    pytester.makepyfile(test_four=FOUR_TESTS)
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    first = _generated(calls, "teacher")
    assert first.total() == 300
    pytester.makeconftest("# the answers, with a comment on top\n\n" + OWN_FIXTURES)
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    assert _generated(calls, "teacher") == first
    edited = OWN_FIXTURES.replace(
        '_log("teacher", prompt, seed)\n    return random.Random(f"{seed}:{prompt}")',
        '_log("teacher", prompt, seed)\n    return random.Random(f"{seed}/{prompt}")',
    )
    assert edited != OWN_FIXTURES
    pytester.makeconftest(edited)
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    assert _generated(calls, "teacher") == first + first, "the edited teacher answers anew"
    assert _generated(calls, "student").total() == 300, "the unchanged student is cached"


def test_no_cache_generates_every_completion_afresh(pytester, calls):
    pytester.makeconftest(OWN_FIXTURES)
    pytester.makepyfile(test_four=FOUR_TESTS)
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    pytester.runpytest_subprocess("-k", "0.2", "--bbi-no-cache").assert_outcomes(
        passed=1, deselected=3
    )
    assert _generated(calls, "teacher").total() == 600
    pytester.runpytest_subprocess("-k", "0.2").assert_outcomes(passed=1, deselected=3)
    assert _generated(calls, "teacher").total() == 600


AGREE_AND_FINGERPRINT = """
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from user_models import student_answer, teacher_answer

PROMPTS = [f"question {index}" for index in range(40)]


def test_agree_and_fingerprint_with_models_made_in_the_test():
    teacher = from_callable(teacher_answer, name="teacher")
    copy = from_callable(teacher_answer, name="teacher")
    for prompt in PROMPTS:
        bbi.assert_agree(teacher, copy, prompt)
    student = from_callable(student_answer, name="student")
    bbi.fingerprint(student, PROMPTS, budget=bbi.Budget(queries=80), embeddings=False)
"""


def test_assert_agree_and_fingerprint_with_uncached_models_hit_the_cache(pytester, calls):
    pytester.makepyfile(user_models=LOADED_MODELS, test_agree=AGREE_AND_FINGERPRINT)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    _each_once(calls, "teacher", 40)
    _each_once(calls, "student", 80)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    _each_once(calls, "teacher", 40)
    _each_once(calls, "student", 80)


JUDGED_AND_CALIBRATED = """
import json
import os

import pytest_bbi as bbi
from pytest_bbi.adversaries.judge import JudgeAdversary
from pytest_bbi.models import from_callable
from user_models import _log, student_answer, teacher_answer

PROMPTS = [f"question {index}" for index in range(30)]


class ConfidentStudent:
    name = "confident"
    identity = "confident-student-v1"

    def generate(self, prompts, seeds):
        return [student_answer(prompt, seed) for prompt, seed in zip(prompts, seeds)]

    def token_log_probs(self, prompts, completions):
        for prompt, completion in zip(prompts, completions):
            _log("token-log-probs", prompt, completion)
        return [[-0.1 * len(completion)] for completion in completions]


def _judge(questions, seeds):
    for question, seed in zip(questions, seeds):
        _log("judge", question, seed)
    return ["A" if seed % 2 else "B" for seed in seeds]


def test_a_judge_and_a_calibrated_student_made_in_the_test():
    judge = from_callable(_judge, name="judge", batched=True)
    budget = bbi.Budget(queries=60, adversaries=["stylometric", JudgeAdversary(judge)])
    teacher = from_callable(teacher_answer, name="teacher")
    calibrate = bbi.Calibrate(agreement="exact")
    bbi.assert_indistinguishable(
        teacher, ConfidentStudent(), PROMPTS, budget=budget, epsilon=0.5, calibrate=calibrate
    )
"""


def test_a_judge_and_the_calibration_reports_log_probabilities_are_cached_too(pytester, calls):
    pytester.makepyfile(user_models=LOADED_MODELS, test_judged=JUDGED_AND_CALIBRATED)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    judged = _generated(calls, "judge").total()
    scored = _generated(calls, "token-log-probs").total()
    assert judged > 0
    assert scored > 0
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert _generated(calls, "judge").total() == judged
    assert _generated(calls, "token-log-probs").total() == scored
    assert _generated(calls, "student").total() == 60
