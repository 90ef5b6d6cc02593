"""The rows of the preference-pairs and target-list exports, made from a verdict."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_bbi.models.redaction import redact
from pytest_bbi.played import BucketPlayed, PlayedPair
from pytest_bbi.stats import clopper_pearson
from pytest_bbi.verdict import AdversaryResult, BucketResult, Verdict

PAIRS_PER_BUCKET = 64
"""The most preference pairs exported per bucket (the held-out pairs the adversaries were most
sure of); pass ``pairs_per_bucket`` to :func:`~pytest_bbi.export.export_verdict` for more."""

PROMPTS_PER_BUCKET = 50
"""The most prompts per bucket in the target list, weakest first."""

PROMPT_INTERVAL_ALPHA = 0.05
"""Each prompt's interval is a two-sided 95% Clopper–Pearson interval, not adjusted for the
number of prompts: it ranks prompts for synthesis, it is not a test."""


@dataclass(frozen=True)
class PairRow:
    """One preference pair and where it came from.

    Attributes:
        bucket: the capability bucket.
        pair: the prompt and both completions.
        adversary: the adversary most sure about the pair.
        confidence: how sure it was, from 0 (a coin flip) to 0.5 (certain).
        correct: whether it named the teacher.
    """

    bucket: str
    pair: PlayedPair
    adversary: str
    confidence: float
    correct: bool


def pair_rows(verdict: Verdict, per_bucket: int) -> list[PairRow]:
    """The held-out pairs the adversaries were most sure of, bucket by bucket.

    Each held-out pair counts once, under the adversary most sure of it (right or wrong: the
    teacher's completion is the chosen one either way); exact duplicates are dropped. Without
    the played pairs (a verdict rebuilt from JSON) the verdict's own examples are used.

    Args:
        verdict: the verdict.
        per_bucket: the most rows per bucket.

    Returns:
        The rows, bucket by bucket, most sure first.
    """
    rows: list[PairRow] = []
    for bucket, result in verdict.buckets.items():
        played = None if verdict.played is None else verdict.played.buckets.get(bucket)
        candidates = _played_rows(bucket, played) if played else _example_rows(bucket, result)
        ranked = sorted(enumerate(candidates), key=lambda item: (-item[1].confidence, item[0]))
        seen: set[PlayedPair] = set()
        for _, row in ranked:
            if row.pair not in seen and len(seen) < per_bucket:
                seen.add(row.pair)
                rows.append(row)
    return rows


def _played_rows(bucket: str, played: BucketPlayed) -> Iterator[PairRow]:
    for index, pair in enumerate(played.held_out):
        scored = [
            (abs(evidence[index]), name, played.calls[name][index])
            for name, evidence in played.evidence.items()
            if index < len(evidence)
        ]
        if scored:
            confidence, name, correct = max(scored, key=lambda item: item[0])
            yield PairRow(bucket, pair, name, round(confidence, 6), correct)


def _example_rows(bucket: str, result: BucketResult) -> Iterator[PairRow]:
    for name, adversary in result.adversaries.items():
        for example in adversary.examples:
            pair = PlayedPair(example.prompt, example.teacher, example.student)
            yield PairRow(bucket, pair, name, example.confidence, example.correct)


def preference_row(row: PairRow, *, conversational: bool) -> dict[str, Any]:
    """One row of ``pairs.jsonl``: TRL's preference type, standard or conversational format.

    Standard: ``{"prompt": str, "chosen": str, "rejected": str}``. Conversational: the prompt
    as one user message and each completion as one assistant message.
    """
    pair = row.pair
    prompt, chosen, rejected = redact(pair.prompt), redact(pair.teacher), redact(pair.student)
    if not conversational:
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def meta_row(index: int, row: PairRow) -> dict[str, Any]:
    """One row of ``pairs_meta.jsonl``: where row ``index`` of ``pairs.jsonl`` came from."""
    return {
        "row": index,
        "bucket": redact(row.bucket),
        "adversary": redact(row.adversary),
        "confidence": row.confidence,
        "adversary_correct": row.correct,
    }


def strongest(result: BucketResult) -> AdversaryResult | None:
    """The bucket's adversary with the largest lower bound (then advantage), if any played."""
    played = [adversary for adversary in result.adversaries.values() if adversary.total > 0]
    if not played:
        return None
    return max(played, key=lambda adversary: (adversary.lower, adversary.advantage))


def class_advantage(result: BucketResult) -> float | None:
    """The mean observed advantage of the bucket's adversaries that played, if any did.

    The strongest adversary saturates first: once it names the teacher on every pair of
    every bucket, its numbers rank nothing, while the others' still say where the student
    is easiest to tell apart.
    """
    played = [adversary.advantage for adversary in result.adversaries.values() if adversary.total]
    return round(sum(played) / len(played), 6) if played else None


def target_rows(verdict: Verdict, per_bucket: int = PROMPTS_PER_BUCKET) -> list[dict[str, Any]]:
    """The rows of ``targets.jsonl``: buckets weakest first, then each bucket's weakest prompts.

    A bucket is weaker when its strongest adversary's lower bound is larger, then when the
    class's mean advantage (:func:`class_advantage`) is. A prompt is weaker when the class's
    mean advantage over the held-out pairs of the prompt is larger, then when the strongest
    adversary's is; each prompt row carries the strongest adversary's 2·k/n − 1 with a
    pointwise interval (:data:`PROMPT_INTERVAL_ALPHA`).

    Args:
        verdict: the verdict.
        per_bucket: the most prompts per bucket.

    Returns:
        One ``{"kind": "bucket", ...}`` row per bucket, then ``{"kind": "prompt", ...}`` rows.
    """
    ranked = sorted(
        verdict.buckets.items(),
        key=lambda item: (
            -item[1].lower,
            -(class_advantage(item[1]) or 0.0),
            -(item[1].estimate or item[1].advantage),
            item[0],
        ),
    )
    rows: list[dict[str, Any]] = []
    for rank, (bucket, result) in enumerate(ranked, start=1):
        best = strongest(result)
        rows.append(
            {
                "kind": "bucket",
                "rank": rank,
                "bucket": redact(bucket),
                "passed": result.passed,
                "epsilon": result.epsilon,
                "adversary": None if best is None else redact(best.name),
                "advantage": result.advantage,
                "estimate": result.estimate,
                "lower": result.lower,
                "upper": result.upper,
                "class_advantage": class_advantage(result),
                "detectable": result.detectable,
                "queries": result.queries,
                "prompts": result.prompts,
            }
        )
    for bucket, result in ranked:
        played = None if verdict.played is None else verdict.played.buckets.get(bucket)
        best = strongest(result)
        if played is not None and best is not None:
            rows += _prompt_rows(bucket, played, best.name)[:per_bucket]
    return rows


def _prompt_rows(bucket: str, played: BucketPlayed, adversary: str) -> list[dict[str, Any]]:
    """The bucket's prompts, weakest first, with ``adversary``'s numbers on each."""
    held_out = [pair.prompt for pair in played.held_out]
    class_correct = {name: _per_prompt(held_out, calls) for name, calls in played.calls.items()}
    best = class_correct.get(adversary, {})
    sureness = _per_prompt(held_out, played.evidence.get(adversary, ()))
    ranked: list[tuple[float, float, float, float, dict[str, Any]]] = []
    for prompt, (correct, total) in best.items():
        low, high = clopper_pearson(int(correct), total, PROMPT_INTERVAL_ALPHA)
        advantage = 2 * correct / total - 1
        mean_sureness = round(sureness[prompt][0] / total, 6)
        advantages = [
            2 * by_prompt[prompt][0] / by_prompt[prompt][1] - 1
            for by_prompt in class_correct.values()
            if prompt in by_prompt
        ]
        mean_class = round(sum(advantages) / len(advantages), 6)
        row = {
            "kind": "prompt",
            "bucket": redact(bucket),
            "prompt": redact(prompt),
            "adversary": redact(adversary),
            "pairs": total,
            "correct": int(correct),
            "advantage": advantage,
            "lower": 2 * low - 1,
            "upper": 2 * high - 1,
            "evidence": mean_sureness,
            "class_advantage": mean_class,
        }
        ranked.append((-mean_class, -(2 * low - 1), -advantage, -mean_sureness, row))
    ranked.sort(key=lambda item: item[:4])
    return [row for *_, row in ranked]


def _per_prompt(prompts: list[str], values: Sequence[float]) -> dict[str, tuple[float, int]]:
    """Per prompt, the sum of ``values`` over its held-out pairs and how many there were.

    ``values`` may be shorter than ``prompts`` (an adversary that overran its limit).
    """
    sums: dict[str, tuple[float, int]] = {}
    for prompt, value in zip(prompts, values, strict=False):
        total, count = sums.get(prompt, (0.0, 0))
        sums[prompt] = (total + float(value), count + 1)
    return sums
