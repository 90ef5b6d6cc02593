"""A planted weakness for the prompt search (tests/unit/test_search.py, docs/how-to/search.md).

The student answers exactly like ``scripted.teacher_fn`` except on math prompts holding a
number of at least :data:`THRESHOLD`, where it appends the verbal tic: about 3% of what
``pytest_bbi.strategies.math_prompts()`` draws (measured over 3000 draws: 3.3%).
"""

import re

from scripted import TIC, teacher_fn

from pytest_bbi.models import from_callable

THRESHOLD = 970
"""The student gives itself away on prompts holding a number at least this large."""

_NUMBER = re.compile(r"\d+")


def rare(prompt):
    """Whether ``prompt`` has the rare property: a number of at least :data:`THRESHOLD`."""
    return any(int(number) >= THRESHOLD for number in _NUMBER.findall(prompt))


def planted_fn(prompt, seed):
    """The teacher's answer, with the tic appended on the rare prompts only."""
    return teacher_fn(prompt, seed) + (TIC if rare(prompt) else "")


TEACHER = from_callable(teacher_fn, name="teacher")
PLANTED = from_callable(planted_fn, name="planted")
