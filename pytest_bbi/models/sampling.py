"""Batch-invariant seeded sampling for ``hf:``: truncation and the Gumbel-max logits processor."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

_TINY = torch.finfo(torch.float32).tiny


def _row_seed(seed: int, step: int) -> int:
    """Mix a row's seed and decoding step into a 63-bit ``torch.Generator`` seed."""
    digest = hashlib.blake2b(f"{seed}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


_NUCLEUS_CANDIDATES = 64
"""Tokens ranked per row before the nucleus is cut; rows whose nucleus is wider are sorted whole."""


def truncate(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask tempered logits (any leading shape, vocabulary last) to the top-k and top-p nucleus.

    Args:
        logits: logits already divided by the temperature.
        top_k: number of tokens kept; 0 keeps every token.
        top_p: nucleus mass in (0, 1]; 1 keeps every token.

    Returns:
        The logits with every token outside the kept set at ``-inf``.
    """
    vocab_size = logits.shape[-1]
    if 0 < top_k < vocab_size:
        kth_largest = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, -torch.inf)
    if top_p < 1.0:
        beyond = _beyond_nucleus(logits.reshape(-1, vocab_size), top_p)
        logits = logits.masked_fill(beyond.reshape(logits.shape), -torch.inf)
    return logits


def _beyond_nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Per row of 2-D ``logits``: the tokens ranked after the smallest set of mass ≥ ``top_p``.

    A token is beyond the nucleus when the probability of the tokens ranked above it is at least
    ``top_p``. Only the :data:`_NUCLEUS_CANDIDATES` largest logits of a row are ranked when the
    nucleus ends among them (the usual case: sorting a whole vocabulary per step cost more than
    the forward pass of a small model on a CPU); the other rows are sorted whole.
    """
    size = logits.shape[-1]
    log_total = torch.logsumexp(logits, dim=-1, keepdim=True)
    ranked, order = torch.topk(logits, min(_NUCLEUS_CANDIDATES, size), dim=-1)
    above = _mass_above(ranked, log_total)
    beyond = _beyond_ranked(order, above, top_p, size)
    if ranked.shape[-1] < size:
        ranked_mass = above[:, -1] + (ranked[:, -1] - log_total[:, 0]).exp()
        unsettled = ranked_mass < top_p
        if bool(unsettled.any()):
            ranked, order = torch.sort(logits[unsettled], dim=-1, descending=True)
            above = _mass_above(ranked, log_total[unsettled])
            beyond[unsettled] = _beyond_ranked(order, above, top_p, size)
    return beyond


def _mass_above(ranked: torch.Tensor, log_total: torch.Tensor) -> torch.Tensor:
    """The probability of the tokens ranked above each logit of ``ranked`` (sorted descending)."""
    probabilities = (ranked - log_total).exp()
    return probabilities.cumsum(dim=-1) - probabilities


def _beyond_ranked(
    order: torch.Tensor, above: torch.Tensor, top_p: float, size: int
) -> torch.Tensor:
    """Mark the tokens beyond the nucleus from the first ranks; an unranked token is beyond."""
    kept = torch.zeros((order.shape[0], size), dtype=torch.bool, device=order.device)
    return kept.scatter_(-1, order, above < top_p).logical_not_()


class GumbelMaxSampler(LogitsProcessor):  # type: ignore[misc]  # transformers is read untyped
    """Sample each row by the Gumbel-max trick with noise from its own (seed, step) generator.

    For every row the processor scales the logits by ``1 / temperature``, masks them to the top-k
    tokens and the top-p nucleus, adds Gumbel noise drawn from a generator seeded by the row's
    seed and the number of tokens generated so far, and leaves the argmax as the only finite
    score. Greedy decoding over the result samples from the tempered, truncated distribution,
    and a row's draw depends only on its prompt and seed, never on the rest of the batch.

    Args:
        seeds: one seed per batch row.
        prompt_length: the padded prompt length (the same for every row under left padding).
        temperature: the softmax temperature, > 0.
        top_p: nucleus mass in (0, 1]; 1 disables it.
        top_k: number of tokens kept; 0 disables it.
    """

    def __init__(
        self, seeds: Sequence[int], prompt_length: int, temperature: float, top_p: float, top_k: int
    ) -> None:
        self._seeds = list(seeds)
        self._prompt_length = prompt_length
        self._temperature = temperature
        self._top_p = top_p
        self._top_k = top_k
        self._generator = torch.Generator()
        self._uniform = self._scratch = torch.empty(0)
        self._rows: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Return scores whose only finite entry per row is that row's sampled token."""
        logits = scores.float()
        if self._temperature != 1:  # dividing by 1 is exact: skip the copy
            logits = logits / self._temperature
        logits = truncate(logits, self._top_k, self._top_p)
        step = input_ids.shape[1] - self._prompt_length
        # logits + Gumbel noise, the noise being -log(-log(uniform)); a - b is a + (-b) exactly.
        perturbed = logits - self._log_neg_log_uniform(step, logits.shape[-1]).to(logits.device)
        chosen = perturbed.argmax(dim=-1, keepdim=True)
        sampled = torch.full_like(scores, -torch.inf)
        return sampled.scatter_(-1, chosen, 0.0)

    def _log_neg_log_uniform(self, step: int, size: int) -> torch.Tensor:
        """``log(-log(u))`` per row, ``u`` the first ``size`` uniforms of the row's generator.

        The uniforms are drawn row by row into one reused buffer (each row reseeds the one
        generator: the same draws as a fresh generator), then both logarithms run once over the
        whole batch, which is most of what sampling costs on small models. The buffer's rows
        are padded to 64 bytes, so each row starts as aligned as a tensor of its own.
        """
        if self._uniform.shape != (len(self._seeds), size):
            padded = -(-size // 16) * 16
            self._uniform = torch.empty(len(self._seeds), padded)[:, :size]
            self._scratch = torch.empty(len(self._seeds), padded)[:, :size]
            self._rows = list(self._uniform.unbind())
        generator = self._generator
        for row, seed in zip(self._rows, self._seeds, strict=True):
            generator.manual_seed(_row_seed(seed, step))
            row.uniform_(generator=generator)
        uniform = self._uniform.clamp_min_(_TINY)
        negative_log = torch.log(uniform, out=self._scratch).neg_()
        return torch.log(negative_log, out=uniform)
