"""The ``hf:`` spec: options checked, GGUF files converted, lazy models named without torch."""

from __future__ import annotations

import pathlib
from dataclasses import replace
from typing import TYPE_CHECKING

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.models.folders import has_chat_template
from pytest_bbi.models.gguf import convert_gguf
from pytest_bbi.models.lazy import LazyModel
from pytest_bbi.models.weights import model_identity, weight_files
from pytest_bbi.options import parse_bool, parse_int

if TYPE_CHECKING:
    from pytest_bbi.models.hf import HFModel


def load_hf(
    path: str | pathlib.Path,
    *,
    name: str | None = None,
    device: str | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    chat: bool | None = None,
    system_prompt: str | None = None,
    trust_remote_code: bool = False,
    lazy: bool = False,
) -> HFModel | LazyModel:
    """Load a local transformers causal LM (safetensors weights only) as a model.

    Sampling is seeded per prompt and batch-invariant: each completion depends only on its
    prompt and seed, whatever else shares its batch (up to rare floating-point near-ties).

    Args:
        path: a local directory with ``config.json``, ``*.safetensors`` and the tokenizer, or a
            ``.gguf`` file, converted once to such a directory (see
            :func:`pytest_bbi.models.gguf.convert_gguf`).
        name: the name in reports; defaults to the directory (or GGUF file) name.
        device: a torch device. ``None`` or ``"cuda"`` spread xdist workers round-robin over
            the visible GPUs (worker ``gwK`` gets GPU ``K mod count``); ``None`` falls back
            to ``"cpu"`` when no GPU is visible.
        temperature: sampling temperature; 0 decodes greedily and ignores seeds.
        top_p: nucleus sampling mass in (0, 1]; 1 disables it.
        top_k: keep only the k most likely tokens; 0 disables it.
        max_new_tokens: the most tokens generated per completion (generation stops at eos).
        batch_size: the most prompts run through the model at once.
        chat: render each prompt as a user turn through the tokenizer's chat template, as
            instruction-tuned models expect; ``False`` feeds the prompt as raw text. ``None``
            (the default) uses the chat template when the tokenizer has one.
        system_prompt: a system turn before each prompt; needs the chat template.
        trust_remote_code: allow models whose config requires custom code from the directory,
            which runs arbitrary Python. Only an explicit true enables it: ``True``, ``1`` or
            the text ``true``/``yes``/``on``/``1`` (any case); ``"false"``, ``"no"``, ``"off"``
            and ``"0"`` are false, and anything else is an error.
        lazy: return at once a :class:`~pytest_bbi.models.LazyModel` with the model's identity
            (hashed from the files), loading the weights only when it is first asked to
            generate or score: behind the generation cache, a run whose completions are all
            cached never loads them.

    Returns:
        The loaded model, in eval mode on ``device`` (or the lazy model that loads it).

    Raises:
        ModelSpecError: when the directory is missing, holds no safetensors weights, needs
            ``trust_remote_code=True``, cannot be loaded, or an option is out of range.
    """
    decoding = Decoding(
        temperature, top_p, top_k, max_new_tokens, True if chat is None else chat, system_prompt
    ).check("hf")
    trust_remote_code = parse_bool("trust_remote_code", trust_remote_code, context="hf")
    batch_size = parse_int("batch_size", batch_size, context="hf")
    if batch_size < 1:
        raise ModelSpecError(f"hf: batch_size={batch_size!r} must be >= 1.")
    directory = pathlib.Path(path).expanduser()
    if directory.suffix == ".gguf":
        name = name or directory.stem
        directory = convert_gguf(directory)
    name = name or directory.resolve().name
    weights = weight_files(directory)
    if not parse_bool("lazy", lazy, context="hf"):
        from pytest_bbi.models.hf import open_hf  # torch and transformers: only to load

        return open_hf(
            directory,
            weights,
            decoding,
            chat_given=chat is not None,
            name=name,
            device=device,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
        )
    if chat is None:
        chat = has_chat_template(directory, trust_remote_code)
    settings = replace(decoding, chat=parse_bool("chat", chat, context="hf")).check("hf")
    return LazyModel(
        name,
        model_identity(directory, weights, settings.fingerprint()),
        lambda: load_hf(
            directory,
            name=name,
            device=device,
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            max_new_tokens=settings.max_new_tokens,
            batch_size=batch_size,
            chat=settings.chat,
            system_prompt=settings.system_prompt,
            trust_remote_code=trust_remote_code,
        ),
    )
