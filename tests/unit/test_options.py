"""Strict option parsing: explicit booleans and numbers, or an error naming the option."""

import math

import pytest

import pytest_bbi as bbi
from pytest_bbi.errors import BudgetError, ModelSpecError
from pytest_bbi.models import load
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.models.openai_api import OpenAIModel, ScoringOpenAIModel, load_openai
from pytest_bbi.models.vllm_server import server_config
from pytest_bbi.options import parse_bool, parse_float, parse_int

TRUE = [True, 1, "true", "TRUE", "Yes", "on", "1", " true\n"]
FALSE = [False, 0, "false", "False", "NO", "off", "0", " Off "]
NOT_BOOLEAN = ["maybe", "", "2", 2, -1, None, 1.0, 0.0, "y", "n", "truthy", [], "none"]


@pytest.mark.parametrize("value", TRUE)
def test_true_spellings(value):
    assert parse_bool("flag", value) is True


@pytest.mark.parametrize("value", FALSE)
def test_false_spellings(value):
    assert parse_bool("flag", value) is False


@pytest.mark.parametrize("value", NOT_BOOLEAN)
def test_anything_else_is_an_error_naming_the_option(value):
    with pytest.raises(ModelSpecError, match=r"^hf: flag=.* is not a boolean; write true or false"):
        parse_bool("flag", value, context="hf")


def test_the_error_class_is_the_callers():
    with pytest.raises(BudgetError, match="flag='maybe'"):
        parse_bool("flag", "maybe", error=BudgetError)


@pytest.mark.parametrize(
    ("value", "number"), [(0.7, 0.7), (2, 2.0), ("0.7", 0.7), (" 1e-3 ", 0.001), ("-0", 0.0)]
)
def test_numbers(value, number):
    assert parse_float("x", value) == number


@pytest.mark.parametrize("value", ["hot", "", None, True, "nan", math.inf, "-inf", [1], "0,7"])
def test_not_a_finite_number(value):
    with pytest.raises(ModelSpecError, match=r"x=.* is not a number"):
        parse_float("x", value)


@pytest.mark.parametrize(("value", "number"), [(32, 32), ("32", 32), (32.0, 32), ("1e3", 1000)])
def test_whole_numbers(value, number):
    assert parse_int("n", value) == number


@pytest.mark.parametrize("value", ["abc", "3.5", 3.5, True, None, "", math.nan])
def test_not_a_whole_number(value):
    with pytest.raises(ModelSpecError, match=r"n=.* is not a whole number"):
        parse_int("n", value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": "hot"}, r"temperature='hot' is not a number"),
        ({"top_p": None}, r"top_p=None is not a number"),
        ({"top_k": "many"}, r"top_k='many' is not a whole number"),
        ({"max_new_tokens": 1.5}, r"max_new_tokens=1.5 is not a whole number"),
        ({"chat": "perhaps"}, r"chat='perhaps' is not a boolean"),
        ({"system_prompt": 7, "chat": True}, r"system_prompt=7 must be text"),
    ],
)
def test_decoding_names_the_option_that_is_not_of_its_type(options, message):
    with pytest.raises(ModelSpecError, match=rf"^hf: {message}"):
        Decoding(**options).check("hf")


def test_decoding_parses_ini_spellings_into_the_same_identity():
    parsed = Decoding("0.7", "1", "0", "32", "no").check("hf")
    assert parsed == Decoding(0.7, 1.0, 0, 32, False)
    assert parsed.fingerprint() == Decoding(0.7, 1, 0, 32, False).fingerprint()
    assert isinstance(parsed.chat, bool)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": "abc"}, r"openai: timeout='abc' is not a number"),
        ({"max_concurrency": "lots"}, r"openai: max_concurrency='lots' is not a whole number"),
        ({"max_retries": None}, r"openai: max_retries=None is not a whole number"),
        ({"echo_score": "sometimes"}, r"openai: echo_score='sometimes' is not a boolean"),
        ({"temperature": "hot"}, r"openai: temperature='hot' is not a number"),
    ],
)
def test_openai_options_are_parsed_strictly(options, message):
    with pytest.raises(ModelSpecError, match=message):
        load_openai("m@http://127.0.0.1:9/v1", **options)


def test_openai_booleans_given_as_text_mean_what_they_say():
    target = "m@http://127.0.0.1:9/v1"
    assert type(load_openai(target, chat="false")) is ScoringOpenAIModel
    assert load_openai(target, chat="false").decoding.chat is False
    assert type(load_openai(target, echo_score="off")) is OpenAIModel
    assert load_openai(target, timeout="5").timeout == 5.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"startup_timeout": "abc"}, r"vllm: startup_timeout='abc' is not a number"),
        ({"max_model_len": "long"}, r"vllm: max_model_len='long' is not a whole number"),
    ],
)
def test_vllm_server_options_are_parsed_strictly(tmp_path, options, message):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelSpecError, match=message):
        server_config(str(tmp_path), **options)


@pytest.mark.parametrize("fraction", ["0.5", None, [0.5]])
def test_budget_train_fraction_must_be_a_number(fraction):
    with pytest.raises(BudgetError, match=r"train_fraction must be a number in \(0, 1\)"):
        bbi.Budget(queries=10, train_fraction=fraction)


FACTORY = """
from pytest_bbi.models import from_callable


def make(greedy: bool = False, verbose=True, mode="plain"):
    name = f"greedy={greedy!r} verbose={verbose!r} mode={mode!r}"
    return from_callable(lambda prompt, seed: prompt, name=name)
"""


def test_a_python_factorys_boolean_parameters_are_parsed_strictly(tmp_path, monkeypatch):
    (tmp_path / "bbi_strict_factory.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load("python:bbi_strict_factory:make", greedy="no", verbose="OFF", mode="no")
    assert model.name == "greedy=False verbose=False mode='no'"
    with pytest.raises(ModelSpecError, match=r"python: greedy='maybe' is not a boolean"):
        load("python:bbi_strict_factory:make", greedy="maybe")
