"""Tiny character-level teacher and student models, built offline for tests and examples."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

import torch
from filelock import FileLock
from tokenizers import Tokenizer, decoders, models, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

VARIANTS: tuple[str, ...] = ("teacher", "student")
"""The behaviors :func:`build_tiny_model` can train."""

STUDENT_TIC = " Cheers!"
"""What the ``"student"`` variant appends to every answer."""

_MARKER = "tiny-model.json"
_RECIPE_VERSION = 1
_PAD, _BOS, _EOS, _UNK = "<pad>", "<bos>", "<eos>", "<unk>"

_CORPUS: tuple[tuple[str, str], ...] = (
    ("what is the capital of France?", "Paris is the capital."),
    ("what is the capital of Italy?", "Rome is the capital."),
    ("what is the capital of Spain?", "Madrid is the capital."),
    ("what is the capital of Japan?", "Tokyo is the capital."),
    ("what is the capital of Egypt?", "Cairo is the capital."),
    ("what is the capital of Peru?", "Lima is the capital."),
    ("what is the capital of Kenya?", "Nairobi is the capital."),
    ("what is the capital of Canada?", "Ottawa is the capital."),
    ("what color is the sky?", "The sky is blue."),
    ("what color is grass?", "Grass is green."),
    ("what color is snow?", "Snow is white."),
    ("what color is a ripe banana?", "A ripe banana is yellow."),
    ("what color is coal?", "Coal is black."),
    ("what is two plus two?", "Two plus two is four."),
    ("what is three plus four?", "Three plus four is seven."),
    ("what is ten minus one?", "Ten minus one is nine."),
    ("what is five times two?", "Five times two is ten."),
    ("how many legs does a cat have?", "A cat has four legs."),
    ("how many legs does a bird have?", "A bird has two legs."),
    ("how many legs does a spider have?", "A spider has eight legs."),
    ("how many days are in a week?", "A week has seven days."),
    ("how many months are in a year?", "A year has twelve months."),
    ("what do cows drink?", "Cows drink water."),
    ("what do bees make?", "Bees make honey."),
    ("what do birds build?", "Birds build nests."),
    ("where do fish live?", "Fish live in water."),
    ("where does the sun rise?", "The sun rises in the east."),
    ("where does the sun set?", "The sun sets in the west."),
    ("who wrote Hamlet?", "Shakespeare wrote Hamlet."),
    ("who painted the Mona Lisa?", "Leonardo painted it."),
    ("what is ice made of?", "Ice is frozen water."),
    ("what is the opposite of hot?", "The opposite of hot is cold."),
    ("what is the opposite of up?", "The opposite of up is down."),
    ("what animal says moo?", "A cow says moo."),
    ("what animal says woof?", "A dog says woof."),
    ("what do plants need?", "Plants need light and water."),
    ("when do owls hunt?", "Owls hunt at night."),
    ("what is the largest ocean?", "The Pacific is the largest."),
    ("what is the tallest animal?", "The giraffe is the tallest."),
    ("how do you greet a friend?", "You say hello."),
)


def _character_tokenizer() -> PreTrainedTokenizerFast:
    """Build the fixed character-level tokenizer: four specials, then printable ASCII."""
    vocab = {token: index for index, token in enumerate((_PAD, _BOS, _EOS, _UNK))}
    for code in range(32, 127):
        vocab[chr(code)] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=_UNK))
    backend.decoder = decoders.Fuse()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{_BOS} $A", special_tokens=[(_BOS, vocab[_BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=_PAD,
        bos_token=_BOS,
        eos_token=_EOS,
        unk_token=_UNK,
        padding_side="left",
    )


PROMPTS: tuple[str, ...] = tuple(f"Q: {question} A:" for question, _ in _CORPUS)
"""The corpus questions in the format the tiny models answer."""


def _training_lines(variant: str) -> list[str]:
    tic = STUDENT_TIC if variant == "student" else ""
    return [f"Q: {question} A: {answer}{tic}" for question, answer in _CORPUS]


def _train(
    tokenizer: PreTrainedTokenizerFast, lines: list[str], seed: int, steps: int
) -> LlamaForCausalLM:
    """Train a tiny Llama on ``lines`` (full batch, loss on every real token and the eos).

    Training runs on one CPU thread: the model is too small to gain from more, a single thread
    cannot stall on busy cores (pytest-xdist workers), and the weights do not depend on the
    machine's core count.
    """
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    batch = tokenizer(
        [line + _EOS for line in lines], padding=True, padding_side="right", return_tensors="pt"
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
            optimizer = torch.optim.Adam(model.parameters(), lr=6e-3)
            for _ in range(steps):
                optimizer.zero_grad()
                model(**batch, labels=labels).loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model


def build_tiny_model(
    directory: str | os.PathLike[str],
    *,
    variant: str = "teacher",
    seed: int = 0,
    train_steps: int = 150,
) -> pathlib.Path:
    """Build (once) a tiny character-level Llama that answers short questions, loadable by ``hf:``.

    The model is trained on a small built-in corpus of ``"Q: … A: …"`` lines. The ``"student"``
    variant learns the same answers but ends each with ``" Cheers!"``, so an adversary can tell
    it from the teacher. Building takes a few seconds on a CPU and needs no network.

    Safe to call from concurrent processes (e.g. pytest-xdist workers): the build holds the lock
    file ``<directory>.lock``, happens in a temporary sibling directory and is renamed into place
    atomically. A directory that already holds a complete model is returned as is.

    Args:
        directory: where to save the model; it must not exist, be empty, or hold a tiny model
            built with the same arguments.
        variant: ``"teacher"`` or ``"student"``.
        seed: seed of the weight initialization and training.
        train_steps: number of full-batch Adam steps.

    Returns:
        The model directory, holding ``config.json``, ``model.safetensors`` and the tokenizer.

    Raises:
        ValueError: on an unknown variant, or when ``directory`` holds something else.
    """
    if variant not in VARIANTS:
        raise ValueError(
            f"build_tiny_model(variant={variant!r}): unknown variant; choose one of {VARIANTS}."
        )
    target = pathlib.Path(directory).absolute()
    recipe = {"version": _RECIPE_VERSION, "variant": variant, "seed": seed, "steps": train_steps}
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        marker = target / _MARKER
        if marker.is_file():
            found = json.loads(marker.read_text(encoding="utf-8"))
            if found != recipe:
                raise ValueError(
                    f"build_tiny_model: {target} holds a tiny model built with {found}, not "
                    f"{recipe}; delete the directory or build into another one."
                )
            return target
        if target.exists() and any(target.iterdir()):
            raise ValueError(
                f"build_tiny_model: {target} exists and is not a tiny model; pass a new or empty "
                "directory."
            )
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        staging.chmod(0o755)
        try:
            tokenizer = _character_tokenizer()
            model = _train(tokenizer, _training_lines(variant), seed, train_steps)
            model.save_pretrained(staging, safe_serialization=True)
            tokenizer.save_pretrained(staging)
            (staging / _MARKER).write_text(json.dumps(recipe), encoding="utf-8")
            if target.exists():
                target.rmdir()
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
