"""``Budget(acquisition="search")`` in a user's suite: the failure names the prompts found."""

SEARCH_TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, TIC, teacher_fn

TELLING = {PROMPTS[7], PROMPTS[31]}


def planted_fn(prompt, seed):
    return teacher_fn(prompt, seed) + (TIC if prompt in TELLING else "")


TEACHER = from_callable(teacher_fn, name="teacher")
BUDGET = bbi.Budget(queries=200, adversaries=["stylometric"], acquisition="search")


def test_planted_student():
    planted = from_callable(planted_fn, name="planted")
    bbi.assert_indistinguishable(TEACHER, planted, PROMPTS, budget=BUDGET, epsilon=0.1)


def test_identical_student():
    same = from_callable(teacher_fn, name="same")
    bbi.assert_indistinguishable(TEACHER, same, PROMPTS, budget=BUDGET, epsilon=0.1)
"""


def test_a_search_fails_on_its_confirming_game_and_names_the_prompts_found(user_project):
    user_project.makepyfile(test_search=SEARCH_TESTS)
    result = user_project.runpytest_subprocess("test_search.py", "--bbi-seed=1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*student 'planted' is distinguishable from teacher 'teacher'*",
            "*search: * of 200 queries (search_share 0.5) asked 'stylometric' where the student"
            " gives itself away*",
            "*: 'Question 7: tell me about topic 7.' (search confidence *",
        ]
    )
    result.stdout.fnmatch_lines(["*: 'Question 31: tell me about topic 31.' (search conf*"])
