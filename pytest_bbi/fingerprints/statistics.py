"""Output statistics of completions: length, refusals, lists, JSON, code, prompt similarity."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pytest_bbi.fingerprints.document import mean_field, proportion_field

_REFUSAL = re.compile(
    r"\b(?:i\s+can['’]?t|i\s+cannot|i['’]m\s+sorry|i\s+am\s+sorry|as\s+an\s+ai\b|i\s+won['’]t"
    r"|i\s+will\s+not|i\s+am\s+unable|i['’]m\s+unable)",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
_INDENTED_CODE = re.compile(r"^(?: {4}|\t)[ \t]*\S", re.MULTILINE)


def _is_list(text: str) -> bool:
    return len(_LIST_ITEM.findall(text)) >= 2


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        return isinstance(json.loads(stripped), dict | list)
    except ValueError:
        return False


def _is_code(text: str) -> bool:
    return "```" in text or _INDENTED_CODE.search(text) is not None


def output_statistics(
    completions: Sequence[str], prompts: Sequence[str], similarities: Sequence[float] | None
) -> dict[str, dict[str, Any]]:
    """The fields of a ``"model"`` fingerprint for one bucket's completions.

    Fields: ``length_chars`` and ``length_words`` (means); ``refusal`` (proportion of
    completions with a refusal phrase: "I can't", "I cannot", "I'm sorry", "As an AI",
    "I won't", "I am unable", …, any case); ``format:list`` (at least two bullet or numbered
    lines), ``format:json`` (the stripped text parses as a JSON object or array),
    ``format:code`` (a ````` fence or a 4-space-indented line) and ``format:question`` (ends
    with "?"), all proportions; and, with ``similarities``, ``prompt_similarity``, the mean
    cosine similarity of each completion's embedding to its prompt's.

    Args:
        completions: the bucket's completions, at least one.
        prompts: the prompt of each completion, aligned with ``completions``.
        similarities: each completion's cosine similarity to its prompt, aligned, or ``None``.

    Returns:
        Field name → field record.

    Raises:
        ValueError: when there are no completions or the sequences are not aligned.
    """
    n = len(completions)
    if n == 0:
        raise ValueError("output_statistics needs at least one completion")
    if len(prompts) != n or (similarities is not None and len(similarities) != n):
        raise ValueError(
            f"output_statistics got {n} completions, {len(prompts)} prompts and "
            f"{'no' if similarities is None else len(similarities)} similarities; align them"
        )
    fields: dict[str, dict[str, Any]] = {
        "length_chars": mean_field([len(text) for text in completions]),
        "length_words": mean_field([len(text.split()) for text in completions]),
        "refusal": proportion_field(sum(bool(_REFUSAL.search(t)) for t in completions), n),
        "format:list": proportion_field(sum(map(_is_list, completions)), n),
        "format:json": proportion_field(sum(map(_is_json, completions)), n),
        "format:code": proportion_field(sum(map(_is_code, completions)), n),
        "format:question": proportion_field(
            sum(text.rstrip().endswith("?") for text in completions), n
        ),
    }
    if similarities is not None:
        fields["prompt_similarity"] = mean_field([float(value) for value in similarities])
    return fields
