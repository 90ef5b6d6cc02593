"""models/backend_options.py: what the built-in backends take, known without importing them."""

import inspect

import pytest

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.backend_options import (
    BACKEND_OPTIONS,
    VLLM_SERVER_OPTIONS,
    local_target,
    read_ini_options,
)


def _keywords(function, *positional):
    return set(inspect.signature(function).parameters) - set(positional)


def test_the_tables_name_every_keyword_of_the_loaders():
    from pytest_bbi.models.hf_loader import load_hf
    from pytest_bbi.models.openai_api import load_openai
    from pytest_bbi.models.vllm_server import _SERVER_OPTIONS, server_config

    assert set(BACKEND_OPTIONS["hf"]) == _keywords(load_hf, "path")
    assert set(BACKEND_OPTIONS["openai"]) == _keywords(load_openai, "target")
    assert set(VLLM_SERVER_OPTIONS) == _keywords(server_config, "target") == set(_SERVER_OPTIONS)
    # vllm: passes identity_endpoint to its client itself.
    client = _keywords(load_openai, "target", "identity_endpoint")
    assert set(BACKEND_OPTIONS["vllm"]) == set(VLLM_SERVER_OPTIONS) | client


@pytest.mark.parametrize(
    ("scheme", "typo", "guess"),
    [("hf", "temprature", "temperature"), ("openai", "max_retry", "max_retries"),
     ("vllm", "served_modle", "served_model")],
)  # fmt: skip
def test_an_unknown_option_lists_the_valid_ones_and_guesses(scheme, typo, guess):
    with pytest.raises(ModelSpecError) as error:
        read_ini_options(scheme, {typo: "1"})
    message = str(error.value)
    assert f"{scheme}: unknown option {typo!r}. Did you mean {guess!r}?" in message
    assert ", ".join(sorted(BACKEND_OPTIONS[scheme])) in message


def test_ini_text_is_read_as_each_option_s_kind():
    options = read_ini_options(
        "hf",
        {
            "name": "42",
            "device": "none",
            "temperature": "0.7",
            "top_k": "5",
            "chat": "yes",
            "system_prompt": "Be brief.",
            "trust_remote_code": "off",
        },
    )
    assert options == {
        "name": "42",  # text stays text
        "device": None,
        "temperature": 0.7,
        "top_k": 5,
        "chat": True,
        "system_prompt": "Be brief.",
        "trust_remote_code": False,
    }
    assert read_ini_options("vllm", {"max_model_len": "None"}) == {"max_model_len": None}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"trust_remote_code": "maybe"}, "hf: trust_remote_code='maybe' is not a boolean"),
        ({"batch_size": "1.5"}, "hf: batch_size='1.5' is not a whole number"),
        ({"temperature": "hot"}, "hf: temperature='hot' is not a number"),
        ({"top_p": "2"}, "top_p=2.0 (must be in (0, 1])"),
        ({"system_prompt": "hi", "chat": "false"}, "system_prompt='hi' (needs chat=True"),
    ],
)
def test_values_that_are_not_of_their_kind_or_range_are_refused(raw, message):
    with pytest.raises(ModelSpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_ini_options("hf", raw)


def test_a_system_prompt_needs_chat_except_where_hf_reads_the_chat_template_by_default():
    # hf: uses the chat template when the tokenizer has one, which only the loader can see.
    assert read_ini_options("hf", {"system_prompt": "hi"}) == {"system_prompt": "hi"}
    assert read_ini_options("hf", {"lazy": "yes"}) == {"lazy": True}
    with pytest.raises(ModelSpecError, match="needs chat=True"):
        read_ini_options("openai", {"system_prompt": "hi"})


def test_a_relative_target_is_read_from_the_base_folder(tmp_path):
    folder = tmp_path / "models" / "teacher"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert local_target("hf", "models/teacher", tmp_path) == folder
    assert local_target("vllm", str(folder), tmp_path / "elsewhere") == folder
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    assert local_target("hf", "model.gguf", tmp_path) == tmp_path / "model.gguf"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing", "hf: the model folder '{base}/missing' was not found (a relative path is "
         "read from '{base}'); it takes a local folder holding config.json"),
        ("empty", "hf: '{base}/empty' has no config.json (a relative path is read from"),
        ("missing.gguf", "hf: the GGUF file '{base}/missing.gguf' was not found"),
    ],
)  # fmt: skip
def test_a_target_without_a_model_names_the_path(tmp_path, target, message):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSpecError) as error:
        local_target("hf", target, tmp_path)
    assert message.format(base=tmp_path) in str(error.value)
