"""What the built-in backends accept, known without importing them: option names, kinds, paths.

The plugin checks a session's model specs and ini options against these tables when pytest
starts (``hf:`` needs torch, which a check must not import). ``tests/unit/test_backend_options.py``
keeps them equal to the loaders' signatures.
"""

from __future__ import annotations

import difflib
import pathlib
from collections.abc import Mapping
from typing import Any, Literal

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.options import parse_bool, parse_float, parse_int

Kind = Literal["text", "text or none", "bool", "int", "int or none", "float"]
"""How an option's ini text is read: as it is, ``none`` as ``None``, or strictly as a value."""

DECODING_OPTIONS: Mapping[str, Kind] = {
    "temperature": "float",
    "top_p": "float",
    "top_k": "int",
    "max_new_tokens": "int",
    "chat": "bool",
    "system_prompt": "text or none",
}
"""The decoding settings every built-in backend takes (see ``models/decoding.py``)."""

_OPENAI_CLIENT: Mapping[str, Kind] = {
    "name": "text or none",
    "api_key_env": "text or none",
    "revision": "text",
    "max_concurrency": "int",
    "timeout": "float",
    "max_retries": "int",
    "echo_score": "bool",
    **DECODING_OPTIONS,
}

VLLM_SERVER_OPTIONS: Mapping[str, Kind] = {
    "served_model": "text or none",
    "python": "text or none",
    "server_args": "text",
    "startup_timeout": "float",
    "dtype": "text",
    "max_model_len": "int or none",
}
"""The ``vllm:`` options that configure the server; the others go to its ``openai:`` client."""

BACKEND_OPTIONS: Mapping[str, Mapping[str, Kind]] = {
    "hf": {
        "name": "text or none",
        "device": "text or none",
        **DECODING_OPTIONS,
        "batch_size": "int",
        "trust_remote_code": "bool",
        "lazy": "bool",
    },
    "openai": {**_OPENAI_CLIENT, "identity_endpoint": "text or none"},
    "vllm": {**VLLM_SERVER_OPTIONS, **_OPENAI_CLIENT},
}
"""Built-in scheme → option name → kind: every keyword its loader takes."""

LOCAL_SCHEMES = ("hf", "vllm")
"""Built-in schemes whose target is a path on this machine."""


def _unknown(scheme: str, option: str, valid: Mapping[str, Kind]) -> ModelSpecError:
    close = difflib.get_close_matches(option, list(valid), n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    return ModelSpecError(
        f"{scheme}: unknown option {option!r}.{guess} The {scheme}: backend takes "
        f"{', '.join(sorted(valid))}."
    )


def _read(scheme: str, option: str, kind: Kind, raw: str) -> object:
    """The value the ini text ``raw`` spells for an option of ``kind``."""
    if kind.endswith("or none") and raw.strip().lower() == "none":
        return None
    if kind == "bool":
        return parse_bool(option, raw, context=scheme)
    if kind.startswith("int"):
        return parse_int(option, raw, context=scheme)
    if kind == "float":
        return parse_float(option, raw, context=scheme)
    return raw


def read_ini_options(scheme: str, raw: Mapping[str, str]) -> dict[str, object]:
    """Check a built-in backend's ini options and read each as its kind says.

    Names are checked against the backend's loader (an unknown one gets a "did you mean"),
    booleans and numbers are parsed strictly (:mod:`pytest_bbi.options`), ``none`` is ``None``
    where the loader takes ``None``, text stays as written, and the decoding settings are
    checked for range. Range checks of other options stay with the loader.

    Args:
        scheme: ``"hf"``, ``"openai"`` or ``"vllm"``.
        raw: option name → its ini text.

    Returns:
        Option name → value, ready for the loader.

    Raises:
        ModelSpecError: naming the option and what it accepts.
    """
    valid = BACKEND_OPTIONS[scheme]
    options: dict[str, object] = {}
    for option, text in raw.items():
        if option not in valid:
            raise _unknown(scheme, option, valid)
        options[option] = _read(scheme, option, valid[option], text)
    decoding: dict[str, Any] = {
        key: value for key, value in options.items() if key in DECODING_OPTIONS
    }
    if scheme == "hf" and "chat" not in decoding:  # hf: reads the chat template when there is one
        decoding["chat"] = True  # so a system_prompt is checked by the loader, which knows
    Decoding(**decoding).check(scheme)
    return options


def local_target(scheme: str, target: str, base: pathlib.Path) -> pathlib.Path:
    """The absolute path an ``hf:`` or ``vllm:`` target names, checked to hold a model.

    A relative target is read from ``base`` (the plugin passes pytest's rootdir), ``~`` is
    expanded. This checks what needs no model library: the folder and its ``config.json`` (or,
    for ``hf:``, a ``.gguf`` file); the loader checks the weights themselves.

    Args:
        scheme: ``"hf"`` or ``"vllm"``.
        target: the spec after the scheme.
        base: the folder a relative target is read from.

    Returns:
        The absolute path.

    Raises:
        ModelSpecError: when nothing, or no model, is there; the message names the path.
    """
    given = pathlib.Path(target).expanduser()
    path = given if given.is_absolute() else base / given
    where = "" if given.is_absolute() else f" (a relative path is read from {str(base)!r})"
    if scheme == "hf" and path.suffix == ".gguf":
        if not path.is_file():
            raise ModelSpecError(f"hf: the GGUF file {str(path)!r} was not found{where}.")
        return path
    layout = "it takes a local folder holding config.json and *.safetensors weights"
    if not path.is_dir():
        raise ModelSpecError(
            f"{scheme}: the model folder {str(path)!r} was not found{where}; {layout} (e.g. one "
            "written by `model.save_pretrained(dir)`). Hub model ids are not downloaded."
        )
    if not (path / "config.json").is_file():
        raise ModelSpecError(f"{scheme}: {str(path)!r} has no config.json{where}; {layout}.")
    return path
