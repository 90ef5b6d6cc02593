"""Local model folders: what their tokenizer offers, and what to say when a folder is wrong."""

from __future__ import annotations

import pathlib

from pytest_bbi.errors import ModelSpecError

REMOTE_CODE = (
    "hf: {directory!r} needs custom model code from the directory, which runs arbitrary Python; "
    "if you trust it, opt in with trust_remote_code=True."
)
"""The message for a folder whose model needs custom code and no opt-in was given."""


def has_chat_template(directory: pathlib.Path, trust_remote_code: bool) -> bool:
    """Whether the folder's tokenizer has a chat template (read without loading the model)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelSpecError(
            f"hf: cannot load the tokenizer of {str(directory)!r}: {error}"
        ) from error
    return tokenizer.chat_template is not None


def config_problem(directory: pathlib.Path, error: Exception, trust_remote_code: bool) -> str:
    """The message for a ``config.json`` that transformers refused, naming the file and fix."""
    if "trust_remote_code" in str(error) and not trust_remote_code:
        return REMOTE_CODE.format(directory=str(directory))
    details = " ".join(str(error).split())
    return (
        f"hf: {str(directory / 'config.json')!r} is not a model config transformers can use "
        f"({type(error).__name__}: {details:.400}); correct the field it names (numbers are "
        'written without quotes, e.g. "hidden_size": 64) or re-save the model with '
        "`model.save_pretrained(dir)`."
    )
