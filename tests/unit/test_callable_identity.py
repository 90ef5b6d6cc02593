"""A callable model's identity follows its code and the values it reads, and nothing else."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import types
from typing import Any

import pytest

from pytest_bbi.models import from_callable
from pytest_bbi.models.code_digest import code_digest

BASE = """
import json
import random

ANSWERS = ["yes.", "no."]


def polish(text):
    return text.strip() + "!"


def answer(prompt, seed, *, style="plain"):
    choice = random.Random(seed).choice(ANSWERS)
    return polish(choice) if style == "plain" else json.dumps(choice)
"""


def _define(source: str, name: str = "answer") -> Any:
    """Run ``source`` as a fresh module of the user's (filename ``<user code>``)."""
    namespace: dict[str, Any] = {"__name__": "user_models"}
    exec(compile(textwrap.dedent(source), "<user code>", "exec"), namespace)
    return namespace[name]


def _digest(source: str, name: str = "answer") -> str:
    return code_digest(_define(source, name))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('return polish(choice) if style == "plain"', 'return polish(choice) if style != "plain"'),
        ('ANSWERS = ["yes.", "no."]', 'ANSWERS = ["yes.", "no.", "maybe."]'),
        ('return text.strip() + "!"', 'return text.strip() + "?"'),
        ('style="plain"', 'style="json"'),
        ("random.Random(seed)", "random.Random(seed + 1)"),
    ],
    ids=["body", "global constant", "helper body", "default", "expression"],
)
def test_an_edit_to_the_function_or_what_it_reads_changes_the_digest(before, after):
    assert before in BASE
    assert _digest(BASE) != _digest(BASE.replace(before, after))


@pytest.mark.parametrize(
    "edit",
    [
        lambda source: "\n\n\n" + source,  # the function moved down the file
        lambda source: source.replace("def polish", "# a comment\ndef polish"),
        lambda source: source + "\n\ndef unrelated():\n    return 1\n",
        lambda source: source.replace(
            'ANSWERS = ["yes.", "no."]', 'ANSWERS = ["yes.", "no."]\nX=1'
        ),
    ],
    ids=["moved", "comment", "unrelated function", "unread global"],
)
def test_an_edit_that_changes_nothing_it_computes_keeps_the_digest(edit):
    assert _digest(BASE) == _digest(edit(BASE))


def test_a_closure_value_and_a_nested_lambda_are_covered():
    def make(rate: float, suffix: str):
        return lambda prompt, seed: (lambda text: text + suffix)(prompt) * int(rate * 10)

    assert code_digest(make(0.5, "!")) == code_digest(make(0.5, "!"))
    assert code_digest(make(0.5, "!")) != code_digest(make(0.6, "!"))
    assert code_digest(make(0.5, "!")) != code_digest(make(0.5, "?"))
    nested = "def answer(prompt, seed):\n    return sorted([prompt], key=lambda p: -len(p))[0]\n"
    edited = nested.replace("-len(p)", "len(p)")
    assert _digest(nested) != _digest(edited)


def test_a_module_of_your_code_is_covered_by_the_attributes_the_function_names():
    helpers = types.ModuleType("user_helpers")
    helpers.__file__ = "/project/user_helpers.py"
    exec(compile("def clean(text):\n    return text.strip()\n", "<helpers>", "exec"), vars(helpers))
    function = _define("def answer(prompt, seed):\n    return helpers.clean(prompt)\n")
    function.__globals__["helpers"] = helpers
    first = code_digest(function)
    exec(compile("def clean(text):\n    return text.lower()\n", "<helpers>", "exec"), vars(helpers))
    assert code_digest(function) != first


def test_a_callable_object_is_covered_by_its_class_code_and_its_attributes():
    source = """
    class Client:
        def __init__(self, temperature):
            self.temperature = temperature

        def __call__(self, prompt, seed):
            return f"{prompt}:{self.temperature}"
    """
    warm = _define(source, "Client")
    assert code_digest(warm(0.7)) == code_digest(warm(0.7))
    assert code_digest(warm(0.7)) != code_digest(warm(1.0))
    edited = _define(source.replace('f"{prompt}:', 'f"{prompt}-'), "Client")
    assert code_digest(warm(0.7)) != code_digest(edited(0.7))
    assert code_digest(warm(0.7).__call__) != code_digest(edited(0.7).__call__)


def test_partials_builtins_and_installed_code_are_hashed_without_following_libraries():
    def answer(prompt: str, seed: int, *, suffix: str) -> str:
        return json.dumps(prompt + suffix)

    assert code_digest(functools.partial(answer, suffix="!")) != code_digest(
        functools.partial(answer, suffix="?")
    )
    assert code_digest(len) != code_digest(str.upper)
    assert code_digest(json.dumps) != code_digest(json.loads)


def test_recursion_and_self_referencing_data_end():
    source = """
    LOOP = []
    LOOP.append(LOOP)


    def answer(prompt, seed):
        return answer(prompt[1:], seed) if prompt and LOOP else prompt
    """
    assert _digest(source) == _digest(source)


def test_the_digest_does_not_change_once_the_interpreter_specializes_the_function():
    function = _define(BASE)
    before = code_digest(function)
    for seed in range(2000):
        function("prompt", seed)
    assert code_digest(function) == before


def test_the_digest_is_the_same_in_another_process_with_other_string_hashing(tmp_path):
    module = tmp_path / "user_models.py"
    module.write_text(
        BASE
        + '\nWORDS = {"a", "b", "c", "d"}\n\n\ndef spell(prompt, seed, letters=frozenset("xyz")):'
        "\n    return sorted(WORDS | letters)[seed % 7] + prompt\n"
    )
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import user_models\n"
        "from pytest_bbi.models.code_digest import code_digest\n"
        "print(code_digest(user_models.answer), code_digest(user_models.spell))\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_a_callable_models_identity_names_it_and_follows_its_code():
    model = from_callable(_define(BASE), name="teacher")
    name, digest = model.identity.removeprefix("callable:").split(":")
    assert (name, len(digest)) == ("teacher", 16)
    assert from_callable(_define(BASE), name="teacher").identity == model.identity
    edited = _define(BASE.replace('"!"', '"?"'))
    assert from_callable(edited, name="teacher").identity != model.identity
    assert from_callable(_define(BASE), name="student").identity != model.identity


def test_a_function_of_an_installed_package_is_known_by_name_only():
    wrapper = _define("import json\n\n\ndef answer(prompt, seed):\n    return json.dumps(prompt)\n")
    original = json.dumps
    try:
        first = code_digest(wrapper)
        json.dumps = lambda value: "patched"  # type: ignore[assignment]
        assert code_digest(wrapper) == first
    finally:
        json.dumps = original
