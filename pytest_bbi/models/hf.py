"""The ``hf:`` backend: local transformers causal LMs with batch-invariant seeded decoding."""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import fields, replace

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.base import AnswerCallback, ignore_answers
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.models.devices import torch_device
from pytest_bbi.models.folders import REMOTE_CODE, config_problem
from pytest_bbi.models.sampling import GumbelMaxSampler, truncate
from pytest_bbi.models.weights import identities_like, model_identity
from pytest_bbi.text import encodable, is_unicode


class HFModel:
    """A transformers causal LM with seeded, batch-invariant decoding; loaded by ``hf:`` specs.

    Attributes:
        name: the model's name in reports.
        identity: hash of the weights, config, tokenizer files and decoding settings.
        decoding: the (immutable) decoding settings.
        device: the torch device the model runs on.
        batch_size: the most prompts run through the model at once; completions do not
            depend on it.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        identity: str,
        decoding: Decoding,
        device: str,
        batch_size: int,
        identity_of: Callable[[Decoding], str] | None = None,
    ) -> None:
        """Wrap a loaded transformers model and its tokenizer (left padding, a pad token).

        Args:
            model: the causal LM, in eval mode on ``device``.
            tokenizer: its tokenizer.
            name: the name in reports.
            identity: the identity with ``decoding``.
            decoding: the decoding settings.
            device: the torch device the model is on.
            batch_size: the most prompts run through the model at once.
            identity_of: the identity of the same weights under other decoding settings, for
                :meth:`with_decoding`; by default a hash of ``identity`` and those settings.
        """
        self.name = name
        self.identity = identity
        self.decoding = decoding
        self.device = device
        self.batch_size = batch_size
        self._model = model
        self._tokenizer = tokenizer
        self._identity_of = identity_of or identities_like(identity, decoding)
        eos_token_id = model.generation_config.eos_token_id
        self._eos_token_id = tokenizer.eos_token_id if eos_token_id is None else eos_token_id

    def with_decoding(self, *, name: str | None = None, **changes: object) -> HFModel:
        """The same weights and tokenizer (shared, not copied) with other decoding settings.

        A student that differs from its teacher only in how it decodes (a lower temperature, a
        system prompt, shorter answers) is one call away: ``teacher.with_decoding(
        system_prompt="Answer briefly.", name="brief")``. Its identity is that of the weights
        under the new settings, so its completions are cached apart.

        Args:
            name: the new model's name in reports; defaults to this one's.
            **changes: :class:`~pytest_bbi.models.decoding.Decoding` settings: ``temperature``,
                ``top_p``, ``top_k``, ``max_new_tokens``, ``chat``, ``system_prompt``.

        Returns:
            The model with the new settings.

        Raises:
            ModelSpecError: for a setting that does not exist or a value out of range.
        """
        known = {field.name for field in fields(Decoding)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ModelSpecError(
                f"hf: with_decoding got unknown settings {', '.join(unknown)}; the decoding "
                f"settings are {', '.join(sorted(known))}."
            )
        decoding = replace(self.decoding, **changes).check("hf")  # type: ignore[arg-type]
        return HFModel(
            self._model,
            self._tokenizer,
            name=name or self.name,
            identity=self._identity_of(decoding),
            decoding=decoding,
            device=self.device,
            batch_size=self.batch_size,
            identity_of=self._identity_of,
        )

    def greedy(self) -> HFModel:
        """This model decoding greedily (``temperature=0``): what ``assert_agree`` compares."""
        return self if self.decoding.temperature == 0 else self.with_decoding(temperature=0.0)

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt; the i-th is a pure function of (prompts[i], seeds[i]).

        Args:
            prompts: the prompts, generated in chunks of ``batch_size`` in the given order.
            seeds: one seed per prompt (any int); ignored when ``temperature`` is 0.

        Returns:
            The decoded new tokens of each prompt, special tokens skipped.

        Raises:
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        return self.generate_incrementally(prompts, seeds, ignore_answers)

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Do what :meth:`generate` does, handing each batch's completions to ``on_answered``.

        Raises:
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"generate got {len(prompts)} prompts but {len(seeds)} seeds.")
        completions: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            with torch.inference_mode():
                batch = self._generate_chunk(list(prompts[chunk]), list(seeds[chunk]))
            completions += batch
            on_answered(range(start, start + len(batch)), batch)
        return completions

    def _render(self, prompts: list[str]) -> list[str]:
        r"""The text the model reads for each prompt: the prompt, or its chat-template rendering.

        A surrogate code point, which the tokenizer cannot read, is written as its ``\udXXX``
        escape (:func:`pytest_bbi.text.encodable`).
        """
        prompts = [encodable(prompt) for prompt in prompts]
        if not self.decoding.chat:
            return prompts
        system = (
            [{"role": "system", "content": self.decoding.system_prompt}]
            if self.decoding.system_prompt is not None
            else []
        )
        rendered = [
            str(
                self._tokenizer.apply_chat_template(
                    [*system, {"role": "user", "content": prompt}],
                    tokenize=False,
                    add_generation_prompt=True,
                )
            )
            for prompt in prompts
        ]
        return rendered

    def _generate_chunk(self, prompts: list[str], seeds: list[int]) -> list[str]:
        inputs = self._tokenizer(
            self._render(prompts),
            padding=True,
            return_tensors="pt",
            add_special_tokens=not self.decoding.chat,
        ).to(self.device)
        prompt_length = inputs["input_ids"].shape[1]
        decoding = self.decoding
        processors = LogitsProcessorList()
        if decoding.temperature > 0:
            processors.append(
                GumbelMaxSampler(
                    seeds, prompt_length, decoding.temperature, decoding.top_p, decoding.top_k
                )
            )
        output = self._model.generate(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            max_new_tokens=decoding.max_new_tokens,
            logits_processor=processors,
            pad_token_id=self._tokenizer.pad_token_id,
            eos_token_id=self._eos_token_id,
        )
        decoded: list[str] = self._tokenizer.batch_decode(
            output[:, prompt_length:], skip_special_tokens=True
        )
        return decoded

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Log-probability that :meth:`generate` returns each completion for its prompt.

        When sampling, the sum over the completion's tokens, and over the end-of-sequence token
        when the completion is shorter than ``max_new_tokens`` (generation stopped there), of the
        log-softmax of the tempered logits masked to the top-k tokens and the top-p nucleus: the
        exact decoding distribution, as the white-box certificate needs. Under greedy decoding
        the distribution is a point mass: 0 for the greedy completion, ``-inf`` for any other.
        A completion is re-tokenized from its text, so one whose generated tokens included
        special tokens (dropped when decoding) is scored as its text reads. A completion holding
        a surrogate code point scores ``-inf``: decoding always yields valid Unicode, so
        :meth:`generate` never returns one.

        Args:
            prompts: the prompts, tokenized as :meth:`generate` tokenizes them.
            completions: one completion per prompt, tokenized without special tokens.

        Returns:
            One log-probability (≤ 0, or ``-inf``) per pair.

        Raises:
            ValueError: when ``prompts`` and ``completions`` differ in length.
        """
        if len(prompts) != len(completions):
            raise ValueError(
                f"score got {len(prompts)} prompts but {len(completions)} completions."
            )
        if self.decoding.temperature == 0:
            greedy = self.generate(prompts, [0] * len(prompts))
            return [
                0.0 if own == completion else -math.inf
                for own, completion in zip(greedy, completions, strict=True)
            ]
        scores = [-math.inf] * len(prompts)
        possible = [index for index, text in enumerate(completions) if is_unicode(text)]
        for start in range(0, len(possible), self.batch_size):
            rows = possible[start : start + self.batch_size]
            with torch.inference_mode():
                chunk = self._score_chunk(
                    [prompts[i] for i in rows], [completions[i] for i in rows]
                )
            for index, score in zip(rows, chunk, strict=True):
                scores[index] = score
        return scores

    def _score_chunk(self, prompts: list[str], completions: list[str]) -> list[float]:
        decoding = self.decoding
        log_probs, rows, spans = self._log_probs(
            prompts, completions, decoding.temperature, decoding.top_k, decoding.top_p
        )
        scores: list[float] = []
        for index, (row, (start, end, length)) in enumerate(zip(rows, spans, strict=True)):
            tokens = log_probs[index, start - 1 : end - 1].gather(-1, row[start:end, None])
            total = tokens.sum()
            if length < decoding.max_new_tokens:  # generation stopped: score the stop
                total = total + log_probs[index, end - 1, self._stop_ids].logsumexp(dim=-1)
            scores.append(float(total))
        return scores

    def token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        r"""Log-probability of each token of each completion under the raw model.

        The model's confidence in what it wrote: the log-softmax of its logits (temperature 1,
        no top-k or top-p, whatever the decoding), one value per completion token, plus the
        end-of-sequence token when the completion is shorter than ``max_new_tokens``. A
        completion is re-tokenized from its text, as :meth:`score` does (a surrogate code point
        as its ``\udXXX`` escape).

        Args:
            prompts: the prompts, tokenized as :meth:`generate` tokenizes them.
            completions: one completion per prompt.

        Returns:
            Per pair, the token log-probabilities (each ≤ 0), in order.

        Raises:
            ValueError: when ``prompts`` and ``completions`` differ in length.
        """
        return self._per_token("token_log_probs", prompts, completions, self._token_chunk)

    def _token_chunk(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        log_probs, rows, spans = self._log_probs(prompts, completions, 1.0, 0, 1.0)
        answer: list[list[float]] = []
        for index, (row, (start, end, length)) in enumerate(zip(rows, spans, strict=True)):
            tokens = log_probs[index, start - 1 : end - 1].gather(-1, row[start:end, None])
            values: list[float] = tokens.squeeze(-1).tolist()
            if length < self.decoding.max_new_tokens:
                values.append(float(log_probs[index, end - 1, self._stop_ids].logsumexp(dim=-1)))
            answer.append(values)
        return answer

    def expected_token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """What the model expected at each token of each completion (see ``ExpectationScorer``).

        At every position :meth:`token_log_probs` reports, the raw next-token log-probabilities
        (temperature 1) averaged under the decoding distribution there: the tempered logits
        masked to the top-k tokens and the top-p nucleus, or the most likely token under greedy
        decoding. At the stop position the average is over the whole vocabulary, as there.

        Args:
            prompts: the prompts, tokenized as :meth:`generate` tokenizes them.
            completions: one completion per prompt.

        Returns:
            Per pair, one expected log-probability (≤ 0) per token of :meth:`token_log_probs`.

        Raises:
            ValueError: when ``prompts`` and ``completions`` differ in length.
        """
        return self._per_token(
            "expected_token_log_probs", prompts, completions, self._expectation_chunk
        )

    def _per_token(
        self,
        method: str,
        prompts: Sequence[str],
        completions: Sequence[str],
        chunk: Callable[[list[str], list[str]], list[list[float]]],
    ) -> list[list[float]]:
        """One row per pair, computed by ``chunk`` a batch at a time without gradients."""
        if len(prompts) != len(completions):
            raise ValueError(
                f"{method} got {len(prompts)} prompts but {len(completions)} completions."
            )
        rows: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = slice(start, start + self.batch_size)
            with torch.inference_mode():
                rows += chunk(list(prompts[batch]), list(completions[batch]))
        return rows

    def _expectation_chunk(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        decoding = self.decoding
        logits, _, spans = self._logits(prompts, completions)
        answer: list[list[float]] = []
        for index, (start, end, length) in enumerate(spans):
            stops = length < decoding.max_new_tokens  # the stop was a token: its position too
            positions = logits[index, start - 1 : end if stops else end - 1].float()
            raw = positions.log_softmax(dim=-1)
            if decoding.temperature == 0:
                expected = raw.max(dim=-1).values
            else:
                tempered = positions / decoding.temperature
                weights = truncate(tempered, decoding.top_k, decoding.top_p).softmax(dim=-1)
                expected = (weights * raw).nan_to_num(nan=0.0).sum(dim=-1)
            answer.append(expected.cpu().tolist())
        return answer

    @property
    def _stop_ids(self) -> list[int]:
        stops = self._eos_token_id
        return list(stops) if isinstance(stops, list) else [stops]

    def _log_probs(
        self,
        prompts: list[str],
        completions: list[str],
        temperature: float,
        top_k: int,
        top_p: float,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[int, int, int]]]:
        """One forward pass over prompt + completion rows, under the given distribution.

        Returns:
            The next-token log-probabilities on the CPU (row, position, vocabulary), each row's
            token ids, and per row the span of :meth:`_logits`.
        """
        logits, rows, spans = self._logits(prompts, completions)
        log_probs = truncate(logits.float() / temperature, top_k, top_p).log_softmax(dim=-1).cpu()
        return log_probs, rows, spans

    def _logits(
        self, prompts: list[str], completions: list[str]
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[int, int, int]]]:
        """One forward pass over prompt + completion rows: the model's next-token logits.

        Returns:
            The logits (row, position, vocabulary) on the model's device, each row's token ids,
            and per row the span [start, end) of its completion tokens that have a prediction
            (a first token with no prompt before it has none) and the completion's length in
            tokens.
        """
        prompt_ids = self._tokenizer(
            self._render(prompts), add_special_tokens=not self.decoding.chat
        )["input_ids"]
        completion_ids = self._tokenizer(
            [encodable(completion) for completion in completions], add_special_tokens=False
        )["input_ids"]
        rows = [
            torch.tensor(p + c, dtype=torch.long)
            for p, c in zip(prompt_ids, completion_ids, strict=True)
        ]
        spans = [
            (max(len(p), 1), len(p) + len(c), len(c))
            for p, c in zip(prompt_ids, completion_ids, strict=True)
        ]
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self._tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = row
            attention_mask[index, : len(row)] = 1
        logits: torch.Tensor = self._model(
            input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device)
        ).logits
        return logits, rows, spans

    def __repr__(self) -> str:
        return (
            f"HFModel(name={self.name!r}, device={self.device!r}, decoding={self.decoding}, "
            f"batch_size={self.batch_size})"
        )


def open_hf(
    directory: pathlib.Path,
    weights: list[pathlib.Path],
    decoding: Decoding,
    *,
    chat_given: bool,
    name: str,
    device: str | None,
    batch_size: int,
    trust_remote_code: bool,
) -> HFModel:
    """Load a checked ``hf:`` folder (see :func:`pytest_bbi.models.hf_loader.load_hf`).

    Args:
        directory: the model folder.
        weights: its safetensors files.
        decoding: the checked decoding settings.
        chat_given: whether the user chose ``chat``; if not, the tokenizer's template decides.
        name: the name in reports.
        device: a torch device, or ``None`` (see :func:`~pytest_bbi.models.devices.torch_device`).
        batch_size: the most prompts run through the model at once.
        trust_remote_code: whether the folder's own code may run.
    """
    device = torch_device(device)
    try:
        config = AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except Exception as error:  # transformers reports a bad config.json with many error types
        raise ModelSpecError(config_problem(directory, error, trust_remote_code)) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            directory, padding_side="left", trust_remote_code=trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(
            directory,
            config=config,
            dtype="auto",
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        if "trust_remote_code" in str(error) and not trust_remote_code:
            raise ModelSpecError(REMOTE_CODE.format(directory=str(directory))) from error
        raise ModelSpecError(f"hf: cannot load {str(directory)!r}: {error}") from error
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelSpecError(
                f"hf: the tokenizer of {str(directory)!r} has neither a pad nor an eos token, "
                "so prompts cannot be batched; add a pad token to the tokenizer."
            )
        tokenizer.pad_token = tokenizer.eos_token
    if not chat_given:
        decoding = replace(decoding, chat=tokenizer.chat_template is not None).check("hf")
    model.to(device)
    model.train(False)
    return HFModel(
        model,
        tokenizer,
        name=name,
        identity=model_identity(directory, weights, decoding.fingerprint()),
        decoding=decoding,
        device=device,
        batch_size=batch_size,
        identity_of=lambda other: model_identity(directory, weights, other.fingerprint()),
    )
