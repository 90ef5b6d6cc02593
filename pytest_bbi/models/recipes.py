"""Student recipes: the compressions a team reaches for first, applied to a transformers model.

Each recipe takes a transformers causal LM and returns a new one, leaving the original as it
was; wrap the result with :func:`~pytest_bbi.models.from_transformers` to test it against its
teacher::

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from pytest_bbi.models import from_transformers, recipes

    teacher_lm = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    teacher = from_transformers(teacher_lm, tokenizer, name="teacher")
    int8 = from_transformers(recipes.int8_dynamic(teacher_lm), tokenizer, name="int8")
    pruned = from_transformers(recipes.drop_layers(teacher_lm, range(16, 22)), tokenizer,
                               name="pruned")

A student that differs only in decoding (a temperature, a system prompt) needs no recipe:
``teacher.with_decoding(system_prompt="Answer briefly.", name="brief")``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from typing import Any

import torch

from pytest_bbi.errors import ModelSpecError

__all__ = ["bf16_round_trip", "drop_layers", "int8_dynamic"]


def int8_dynamic(model: Any) -> Any:
    """The model with every linear layer quantized to int8, dynamically (CPU inference).

    PyTorch's dynamic quantization: weights stored as int8 with one scale per tensor,
    activations quantized on the fly. Embeddings and norms stay in floating point.

    Args:
        model: a transformers causal LM on the CPU.

    Returns:
        A quantized copy; ``model`` is unchanged.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization says it is deprecated
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False
        )


def bf16_round_trip(model: Any) -> Any:
    """The model with every parameter rounded to bfloat16 and back to its own dtype.

    What storing a float32 checkpoint in bfloat16 does to it: a near-copy, the smallest
    compression a test should pass.

    Args:
        model: a transformers model.

    Returns:
        A rounded copy; ``model`` is unchanged.
    """
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in rounded.parameters():
            parameter.copy_(parameter.to(torch.bfloat16).to(parameter.dtype))
    return rounded


def drop_layers(model: Any, layers: Iterable[int]) -> Any:
    """The model without some of its decoder layers (depth pruning), the rest renumbered.

    Works for the decoder-only architectures that keep their layers in ``model.model.layers``
    (Llama, Mistral, Qwen, Gemma, SmolLM and most others): the config's
    ``num_hidden_layers`` (and ``layer_types``, where present) and each attention layer's
    cache index follow the cut.

    Args:
        model: a transformers causal LM.
        layers: the indices of the layers to drop.

    Returns:
        A pruned copy; ``model`` is unchanged.

    Raises:
        ModelSpecError: when the model keeps its layers elsewhere, or an index is out of
            range, or every layer would be dropped.
    """
    blocks = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        raise ModelSpecError(
            f"drop_layers: {type(model).__name__} keeps no decoder layers in model.model.layers;"
            " prune it yourself and wrap it with from_transformers."
        )
    dropped = sorted(set(layers))
    out_of_range = [index for index in dropped if not 0 <= index < len(blocks)]
    if out_of_range or len(dropped) >= len(blocks):
        raise ModelSpecError(
            f"drop_layers: layers {dropped} for a model of {len(blocks)} layers; give indices "
            f"in [0, {len(blocks) - 1}] and keep at least one layer."
        )
    pruned = copy.deepcopy(model)
    kept = [index for index in range(len(blocks)) if index not in dropped]
    pruned.model.layers = torch.nn.ModuleList(pruned.model.layers[index] for index in kept)
    for new_index, layer in enumerate(pruned.model.layers):
        attention = getattr(layer, "self_attn", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index
    config = pruned.config
    config.num_hidden_layers = len(kept)
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == len(blocks):
        config.layer_types = [layer_types[index] for index in kept]
    return pruned
