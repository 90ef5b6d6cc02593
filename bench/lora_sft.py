# lora_sft.py
"""Distill a student on its teacher's answers with a LoRA adapter (PEFT), then merge and save it.

Supervised fine-tuning on the teacher's completions is distillation on the teacher's samples:
the loss is the student's cross-entropy on the answer tokens only, the prompt rendered exactly
as pytest-bbi's ``hf:`` backend renders it (through the chat template when ``chat`` is true).
Needs ``pip install "pytest-bbi[train]"`` (PEFT). The saved folder loads with ``hf:FOLDER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer


@dataclass(frozen=True)
class LoraRecipe:
    """How the adapter is trained; every field changes the weights.

    Attributes:
        rank: the adapter's rank r.
        alpha: LoRA's scaling numerator (the update is scaled by alpha / rank).
        target_modules: the linear layers that get an adapter (Llama's names by default).
        steps: optimizer steps.
        batch_size: examples per step (the examples are shuffled and cycled).
        learning_rate: AdamW's learning rate.
        seed: seeds the adapter's initialization and the example order.
    """

    rank: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    steps: int = 40
    batch_size: int = 8
    learning_rate: float = 5e-4
    seed: int = 0


def lora_distill(
    student: str | Path,
    prompts: Sequence[str],
    answers: Sequence[str],
    target: str | Path,
    *,
    chat: bool,
    max_new_tokens: int,
    recipe: LoraRecipe = LoraRecipe(),
) -> Path:
    """Fine-tune ``student`` with a LoRA adapter on ``answers`` to ``prompts``, merge, save.

    Args:
        student: the student's folder (safetensors and tokenizer).
        prompts: the prompts, as the game sends them.
        answers: the teacher's completion of each prompt.
        target: the folder to write: the merged model and tokenizer, and ``adapter/``.
        chat: render prompts through the chat template (as the models are tested).
        max_new_tokens: the decoding's token limit; an answer shorter than this ended with the
            end token, so it is trained to end there too.
        recipe: the adapter's training recipe.

    Returns:
        The target folder.
    """
    tokenizer = AutoTokenizer.from_pretrained(student)
    rows = [
        _tokens(tokenizer, prompt, answer, chat=chat, max_new_tokens=max_new_tokens)
        for prompt, answer in zip(prompts, answers, strict=True)
    ]
    torch.manual_seed(recipe.seed)
    base = AutoModelForCausalLM.from_pretrained(student, dtype=torch.float32)
    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        lora_dropout=0.0,
        target_modules=list(recipe.target_modules),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(recipe.seed)
    order: list[int] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.train()
    for _ in range(recipe.steps):
        if len(order) < recipe.batch_size:
            order += torch.randperm(len(rows), generator=generator).tolist()
        batch, order = order[: recipe.batch_size], order[recipe.batch_size :]
        ids, attention, labels = _batch([rows[index] for index in batch], pad)
        loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = Path(target)
    model.save_pretrained(folder / "adapter")
    merged = model.merge_and_unload().eval()
    merged.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _tokens(
    tokenizer: Any, prompt: str, answer: str, *, chat: bool, max_new_tokens: int
) -> tuple[list[int], list[int]]:
    """The prompt's ids as the ``hf:`` backend reads them, and the answer's ids."""
    if chat:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        prompt_ids = tokenizer(prompt)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if len(answer_ids) < max_new_tokens:
        answer_ids.append(tokenizer.eos_token_id)
    return prompt_ids, answer_ids


def _batch(
    rows: list[tuple[list[int], list[int]]], pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded input ids, attention mask and labels (-100 except on answer tokens)."""
    width = max(len(prompt) + len(answer) for prompt, answer in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for index, (prompt, answer) in enumerate(rows):
        end = len(prompt) + len(answer)
        ids[index, :end] = torch.tensor(prompt + answer)
        attention[index, :end] = 1
        labels[index, len(prompt) : end] = torch.tensor(answer)
    return ids, attention, labels
