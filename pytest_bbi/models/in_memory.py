"""Models built in memory: any transformers causal LM and tokenizer, identified by its weights."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.models.devices import torch_device
from pytest_bbi.models.hf import HFModel
from pytest_bbi.options import parse_int
from pytest_bbi.progress import phase

IDENTITY_PREFIX = "transformers:"


def from_transformers(
    model: Any,
    tokenizer: Any,
    *,
    name: str,
    device: str | None = None,
    batch_size: int = 16,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 32,
    chat: bool | None = None,
    system_prompt: str | None = None,
) -> HFModel:
    """A transformers model and tokenizer you built in code, as a model the game can query.

    The way to bring a student that exists only in memory (quantized, pruned, merged,
    fine-tuned in the test session) without saving it first: it decodes exactly as ``hf:``
    models do (seeded, batch-invariant sampling, the chat template, ``score`` and
    ``token_log_probs`` for the white-box adversaries and the calibration report). Its identity
    is computed from what decides its behaviour: a SHA-256 over its state dict (every tensor's
    name, dtype, shape and bytes, in name order; quantized tensors by their integer values,
    scales and zero points), its config, its generation config, the tokenizer (vocabulary,
    merges, special tokens, chat template) and the decoding settings. So the generation cache
    serves a rebuilt model's completions again, and any change to a weight makes new ones. The
    identity is computed once, here: change the weights afterwards and wrap the model again.

    Args:
        model: a transformers causal LM (e.g. from ``AutoModelForCausalLM.from_pretrained``,
            possibly quantized or pruned); it is put in eval mode, and moved to ``device`` when
            one is given.
        tokenizer: its tokenizer; a copy with left padding (and, if it has none, its end
            token as the pad token) is used, the original is not changed.
        name: the model's name in reports.
        device: a torch device to move the model to; ``None`` leaves it where it is.
        batch_size: the most prompts run through the model at once; completions do not
            depend on it.
        temperature: sampling temperature; 0 decodes greedily.
        top_p: nucleus sampling mass in (0, 1].
        top_k: keep only the k most likely tokens; 0 keeps every token.
        max_new_tokens: the most tokens generated per completion.
        chat: render each prompt through the tokenizer's chat template; ``None`` (the default)
            does when the tokenizer has one.
        system_prompt: a system turn before each prompt; needs the chat template.

    Returns:
        The model; :meth:`~pytest_bbi.models.hf.HFModel.with_decoding` gives the same weights
        with other settings.

    Raises:
        ModelSpecError: when ``model`` is not a transformers causal LM, ``name`` is empty, an
            option is out of range, or a state entry cannot be hashed.
    """
    if not (callable(getattr(model, "generate", None)) and hasattr(model, "config")):
        raise ModelSpecError(
            f"from_transformers: model is {type(model).__name__}, not a transformers causal LM "
            "(it needs `generate` and `config`); load one with "
            "AutoModelForCausalLM.from_pretrained(...)."
        )
    if not isinstance(name, str) or not name.strip():
        raise ModelSpecError("from_transformers(name=...): give the model a non-empty name.")
    batch_size = parse_int("batch_size", batch_size, context="from_transformers")
    if batch_size < 1:
        raise ModelSpecError(f"from_transformers: batch_size={batch_size!r} must be >= 1.")
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelSpecError(
                "from_transformers: the tokenizer has neither a pad nor an eos token, so prompts "
                "cannot be batched; add a pad token to the tokenizer."
            )
        tokenizer.pad_token = tokenizer.eos_token
    if chat is None:
        chat = getattr(tokenizer, "chat_template", None) is not None
    decoding = Decoding(temperature, top_p, top_k, max_new_tokens, chat, system_prompt).check(
        "from_transformers"
    )
    if device is not None:
        device = torch_device(device)
        model.to(device)
    else:
        device = _device_of(model)
    model.train(False)
    behaviour = behaviour_digest(model, tokenizer, name)

    def identity_of(settings: Decoding) -> str:
        text = f"{behaviour}\0decoding\0{settings.fingerprint()}"
        return IDENTITY_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    return HFModel(
        model,
        tokenizer,
        name=name,
        identity=identity_of(decoding),
        decoding=decoding,
        device=device,
        batch_size=batch_size,
        identity_of=identity_of,
    )


def _device_of(model: Any) -> str:
    for tensor in model.parameters():
        return str(tensor.device)
    return "cpu"


def behaviour_digest(model: Any, tokenizer: Any, name: str = "model") -> str:
    """SHA-256 over what decides a model's behaviour apart from decoding.

    The state dict (see :func:`state_digest`), the config and generation config (without the
    private fields transformers adds, such as the folder it was loaded from), and the
    tokenizer (see :func:`tokenizer_digest`).

    Args:
        model: a transformers model.
        tokenizer: its tokenizer.
        name: the model's name, for progress lines and messages.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    digest.update(state_digest(model.state_dict(), name).encode())
    for label, config in (
        ("config", model.config),
        ("generation", getattr(model, "generation_config", None)),
    ):
        fields = config.to_dict() if config is not None else {}
        public = {key: value for key, value in fields.items() if not key.startswith("_")}
        digest.update(f"\0{label}\0{json.dumps(public, sort_keys=True, default=str)}".encode())
    digest.update(f"\0tokenizer\0{tokenizer_digest(tokenizer)}".encode())
    return digest.hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """SHA-256 of a tokenizer: its definition, special tokens and chat template.

    The definition is the fast tokenizer's whole JSON (vocabulary, merges, normalization), or a
    slow tokenizer's vocabulary.
    """
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:
        vocabulary = sorted(tokenizer.get_vocab().items())
        digest.update(json.dumps(vocabulary).encode())
    special = getattr(tokenizer, "special_tokens_map", {})
    template = getattr(tokenizer, "chat_template", None)
    digest.update(f"\0special\0{json.dumps(special, sort_keys=True, default=str)}".encode())
    digest.update(f"\0template\0{template!r}".encode())
    return digest.hexdigest()


def state_digest(state: Mapping[str, Any], name: str = "model") -> str:
    """SHA-256 of a state dict, deterministic across processes and machines of one byte order.

    Entries are taken in name order; a tensor contributes its dtype, shape and bytes (a
    quantized tensor its quantization scheme, scales, zero points and integer values), and
    tuples, lists, dtypes, numbers, strings and ``None`` (as quantized modules store them)
    their contents.

    Args:
        state: e.g. ``model.state_dict()``.
        name: the model's name, for the progress line and messages.

    Returns:
        The hex digest.

    Raises:
        ModelSpecError: for an entry of another type, whose bytes cannot be told apart.
    """
    digest = hashlib.sha256()
    with phase(f"hashing the weights of {name}", total=len(state), unit="tensors") as hashing:
        for key in sorted(state):
            digest.update(f"\0{key}\0".encode())
            _feed(digest, state[key], f"{name}: state entry {key!r}")
            hashing.advance()
    return digest.hexdigest()


def _feed(digest: Any, value: object, where: str) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}\0".encode())
        if tensor.is_quantized:
            scheme = tensor.qscheme()
            digest.update(f"{scheme}\0".encode())
            if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                digest.update(f"{tensor.q_scale()!r} {tensor.q_zero_point()!r}\0".encode())
            else:
                _feed(digest, tensor.q_per_channel_scales(), where)
                _feed(digest, tensor.q_per_channel_zero_points(), where)
                digest.update(f"axis {tensor.q_per_channel_axis()}\0".encode())
            tensor = tensor.int_repr()
        flat = tensor.contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(value, tuple | list):
        digest.update(f"{type(value).__name__} {len(value)}\0".encode())
        for item in value:
            _feed(digest, item, where)
    elif value is None or isinstance(value, bool | int | float | str | torch.dtype):
        digest.update(f"{type(value).__name__} {value!r}\0".encode())
    else:
        raise ModelSpecError(
            f"from_transformers: {where} is a {type(value).__name__}, which cannot be hashed "
            "deterministically; save the model with save_pretrained and load it with `hf:`."
        )
