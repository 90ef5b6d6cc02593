"""Acquisition: which queries each bucket plans, how they split into rounds, what a round asks."""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

from pytest_bbi.budget import Acquisition
from pytest_bbi.generation.seeding import derive_seed

FIRST_ROUND_SHARE = 1 / 16
"""The share of a bucket's queries spent in the first round of a sequential game."""

ROUND_GROWTH = 1.5
"""Each round ends when the queries spent reach this multiple of those spent before it, so a
game has about nine rounds and refitting the adversaries costs about three final fits."""

EXPLORATION_WEIGHT = 0.05
"""Disagreement-guided acquisition draws a prompt with weight this plus its mean evidence (at
most ½): prompts that looked alike are still drawn, about a tenth as often as the most telling."""


@dataclass(frozen=True)
class Query:
    """One query of the game: a prompt and how many earlier queries drew the same prompt."""

    prompt: str
    sample_index: int


class QueryPlan(Sequence[Query]):
    """A bucket's seeded plan of q queries, each made when it is read.

    It holds the bucket's prompts and their seeded order, never the q queries themselves, so
    planning a budget costs memory in proportion to the prompts, and only the queries a game
    plays (a slice per round) are ever made. Made by :func:`plan_queries`.
    """

    def __init__(self, prompts: Sequence[str], queries: int, order: Sequence[int]) -> None:
        self._queries = queries
        self._texts = [prompts[position] for position in order]
        # Per position of one cycle through the order: how often its text came earlier in the
        # cycle; per text: how often it comes in a whole cycle (the same text may be listed
        # twice, and both listings count toward its sample indices).
        self._earlier: list[int] = []
        self._per_cycle: dict[str, int] = {}
        for text in self._texts:
            self._earlier.append(self._per_cycle.get(text, 0))
            self._per_cycle[text] = self._per_cycle.get(text, 0) + 1

    def __len__(self) -> int:
        return self._queries

    @overload
    def __getitem__(self, index: int) -> Query: ...

    @overload
    def __getitem__(self, index: slice) -> list[Query]: ...

    def __getitem__(self, index: int | slice) -> Query | list[Query]:
        if isinstance(index, slice):
            return [self._query(position) for position in range(*index.indices(self._queries))]
        position = operator.index(index)
        if position < 0:
            position += self._queries
        if not 0 <= position < self._queries:
            raise IndexError(f"query {index} of a plan of {self._queries}")
        return self._query(position)

    def _query(self, position: int) -> Query:
        cycle, offset = divmod(position, len(self._texts))
        text = self._texts[offset]
        return Query(text, cycle * self._per_cycle[text] + self._earlier[offset])

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same queries in the same order (a list included)."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so unhashable like them

    def __repr__(self) -> str:
        return f"QueryPlan({self._queries} queries over {len(self._texts)} prompts)"


def plan_queries(
    prompts: Sequence[str], queries: int, run_seed: int, stratum: str = ""
) -> QueryPlan:
    """Choose q queries: prompts in a seeded random order, cycled when q exceeds them.

    Args:
        prompts: the prompt distribution D (or one bucket of it), as a finite list.
        queries: how many queries to plan.
        run_seed: the run seed.
        stratum: the bucket the prompts belong to, so each bucket is shuffled independently.

    Returns:
        The queries, as a lazy sequence (:class:`QueryPlan`: its memory grows with the
        prompts, not with q); a prompt's k-th appearance has sample index k.
    """
    order = list(range(len(prompts)))
    random.Random(derive_seed(run_seed, "acquisition", stratum)).shuffle(order)
    return QueryPlan(prompts, queries, order)


@dataclass(frozen=True)
class Round:
    """One round of one bucket: how many queries it asks and how many of them train."""

    queries: int
    train: int

    @property
    def held_out(self) -> int:
        """The round's held-out pairs."""
        return self.queries - self.train


def schedule(queries: int, train_fraction: float, *, sequential: bool) -> list[Round]:
    """Split one bucket's queries into rounds.

    Fixed-n mode plays one round. Sequential mode plays rounds whose cumulative queries grow
    geometrically, from :data:`FIRST_ROUND_SHARE` of the bucket's queries by
    :data:`ROUND_GROWTH`, up to all of them. In every round ``train_fraction`` of the new queries
    (rounded down) become training pairs; the first round keeps at least one training and one
    held-out pair.

    Args:
        queries: the bucket's queries (at least 2).
        train_fraction: the share of each round's queries spent on training pairs, in (0, 1).
        sequential: whether the game is played in rounds.

    Returns:
        The rounds, in order; their queries add up to ``queries``.
    """
    cumulative = [queries]
    if sequential:
        cumulative = []
        share = FIRST_ROUND_SHARE
        while not cumulative or cumulative[-1] < queries:
            total = min(queries, max(2, math.ceil(queries * share)))
            if not cumulative or total > cumulative[-1]:
                cumulative.append(total)
            share *= ROUND_GROWTH
    rounds: list[Round] = []
    spent = 0
    for index, total in enumerate(cumulative):
        size = total - spent
        train = math.floor(size * train_fraction)
        rounds.append(Round(size, max(train, 1) if index == 0 else train))
        spent = total
    return rounds


@dataclass
class PromptHistory:
    """What one bucket's earlier rounds asked and how telling each prompt's pairs were.

    Attributes:
        asked: prompt → how many queries drew it so far (its next sample index).
        evidence: prompt → the adversaries' evidence on its held-out pairs, summed.
        scored: prompt → how many evidence values were summed.
    """

    asked: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, float] = field(default_factory=dict)
    scored: dict[str, int] = field(default_factory=dict)

    def record_queries(self, queries: Sequence[Query]) -> None:
        """Count the queries of a round, so later draws of a prompt get fresh sample indices."""
        for query in queries:
            self.asked[query.prompt] = self.asked.get(query.prompt, 0) + 1

    def record_evidence(self, prompts: Sequence[str], evidence: Sequence[float]) -> None:
        """Add one adversary's evidence on a round's held-out pairs (aligned with ``prompts``)."""
        for prompt, value in zip(prompts, evidence, strict=True):
            self.evidence[prompt] = self.evidence.get(prompt, 0.0) + value
            self.scored[prompt] = self.scored.get(prompt, 0) + 1

    def disagreement(self, prompt: str) -> float:
        """How surely the adversaries told the models apart on ``prompt``, in [0, ½].

        The mean over the prompt's held-out pairs and the adversaries of P(right call) − ½,
        floored at 0; 0 for a prompt never scored.
        """
        scored = self.scored.get(prompt, 0)
        return max(0.0, self.evidence[prompt] / scored) if scored else 0.0


def next_queries(
    acquisition: Acquisition,
    prompts: Sequence[str],
    stratified_plan: Sequence[Query],
    size: int,
    history: PromptHistory,
    run_seed: int,
    bucket: str,
    round_index: int,
) -> list[Query]:
    """The queries of one bucket's next round.

    ``"stratified"`` takes the next ``size`` queries of the bucket's seeded plan (so the rounds
    of a sequential game ask exactly what a fixed-n game of the same budget asks, in order).
    ``"disagreement"`` does the same in the first round; later rounds draw prompts (with
    replacement, seeded per bucket and round) with weight :data:`EXPLORATION_WEIGHT` +
    :meth:`PromptHistory.disagreement`, so queries go where the adversaries told the teacher from
    the student most surely, while every prompt keeps a chance. The verdict then speaks for that
    reweighted prompt distribution, not for D itself.

    Args:
        acquisition: ``"stratified"`` or ``"disagreement"``.
        prompts: the bucket's prompts.
        stratified_plan: the bucket's seeded plan for its whole budget
            (:func:`plan_queries`).
        size: how many queries the round asks.
        history: the bucket's earlier rounds (not modified).
        run_seed: the run seed.
        bucket: the bucket's name.
        round_index: the round, from 0.

    Returns:
        The round's queries; a prompt drawn again gets the next sample index.
    """
    if acquisition == "stratified" or round_index == 0:
        start = sum(history.asked.values())
        return list(stratified_plan[start : start + size])
    candidates = list(dict.fromkeys(prompts))
    weights = [EXPLORATION_WEIGHT + history.disagreement(prompt) for prompt in candidates]
    rng = random.Random(derive_seed(run_seed, "acquisition", bucket, round_index))
    asked = dict(history.asked)
    chosen: list[Query] = []
    for prompt in rng.choices(candidates, weights=weights, k=size):
        chosen.append(Query(prompt, asked.get(prompt, 0)))
        asked[prompt] = asked.get(prompt, 0) + 1
    return chosen
