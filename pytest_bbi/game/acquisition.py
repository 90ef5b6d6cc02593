"""Acquisition: which queries each bucket plans, how they split into rounds, what a round asks.

Two things here carry the guarantee. The round schedule is fixed before any pair is seen (the
group-sequential designs of :mod:`pytest_bbi.game.decision` need its looks in advance), and
disagreement-guided draws have known propensities bounded below, so every held-out pair can be
weighted back to the prompt list (the weights are at most :data:`WEIGHT_BOUND`).
"""

from __future__ import annotations

import math
import operator
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

from pytest_bbi.budget import Acquisition
from pytest_bbi.generation.seeding import derive_seed

FIRST_LOOK_SHARE = 1 / 16
"""The share of a bucket's held-out pairs scored at the first look of a sequential game."""

ROUND_GROWTH = 1.5
"""Each look comes when the held-out pairs reach this multiple of those of the look before it,
so a game has about eight looks and refitting the adversaries costs about three final fits."""

DISAGREEMENT_SHARE = 0.5
"""Disagreement-guided acquisition draws a prompt with probability (1 − s)·d(x) + s·d(x)e(x)/Σ
d·e, s this share, d(x) the prompt's share of the list and e(x) how surely the adversaries told
the models apart on it so far: half the draws follow the evidence, and every prompt keeps at
least half its share, so no importance weight d/π exceeds :data:`WEIGHT_BOUND`."""

WEIGHT_BOUND = 1.0 / (1.0 - DISAGREEMENT_SHARE)
"""The largest importance weight d(x)/π(x) a disagreement-guided pair can carry."""


@dataclass(frozen=True)
class Query:
    """One query of the game: a prompt and how many earlier queries drew the same prompt."""

    prompt: str
    sample_index: int


def _order(prompts: Sequence[str], run_seed: int, stratum: str) -> list[int]:
    order = list(range(len(prompts)))
    random.Random(derive_seed(run_seed, "acquisition", stratum)).shuffle(order)
    return order


def _numbered(prompts: Sequence[str]) -> list[Query]:
    """Queries for ``prompts`` in order, a prompt's k-th appearance with sample index k."""
    seen: dict[str, int] = {}
    planned: list[Query] = []
    for prompt in prompts:
        planned.append(Query(prompt, seen.get(prompt, 0)))
        seen[prompt] = seen.get(prompt, 0) + 1
    return planned


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
    return QueryPlan(prompts, queries, _order(prompts, run_seed, stratum))


def plan_traffic(
    prompts: Sequence[str], rounds: Sequence[Round], run_seed: int, stratum: str = ""
) -> list[Query]:
    """Plan a bucket's queries for the traffic population: one list entry per held-out pair.

    The list is shuffled as in :func:`plan_queries`; the held-out pairs take its first entries,
    one each, and the training pairs cycle over the rest, so no held-out entry is reused or
    trained on. If the list is a random sample of traffic, so is every held-out prompt, and the
    held-out pairs of a fitted adversary are independent draws of its accuracy on that traffic.

    Args:
        prompts: the bucket's prompts, more entries than held-out pairs (checked by setup).
        rounds: the bucket's round schedule (:func:`schedule`).
        run_seed: the run seed.
        stratum: the bucket's name.

    Returns:
        The queries, round by round, each round's training queries first.
    """
    order = [prompts[index] for index in _order(prompts, run_seed, stratum)]
    held_out_total = sum(round_.held_out for round_ in rounds)
    held_out, training = iter(order[:held_out_total]), order[held_out_total:]
    planned: list[str] = []
    trained = 0
    for round_ in rounds:
        planned += [training[(trained + index) % len(training)] for index in range(round_.train)]
        trained += round_.train
        planned += [next(held_out) for _ in range(round_.held_out)]
    return _numbered(planned)


@dataclass(frozen=True)
class Round:
    """One round of one bucket: how many queries it asks and how many of them train."""

    queries: int
    train: int

    @property
    def held_out(self) -> int:
        """The round's held-out pairs."""
        return self.queries - self.train


def held_out_looks(held_out: int, *, sequential: bool) -> list[int]:
    """The cumulative held-out pairs at each look: one look at fixed n, geometric looks else.

    Args:
        held_out: the bucket's held-out pairs, at least 1.
        sequential: whether the game is played in rounds.

    Returns:
        Strictly increasing counts ending at ``held_out``: from :data:`FIRST_LOOK_SHARE` of
        them, each about :data:`ROUND_GROWTH` times the one before.
    """
    if not sequential:
        return [held_out]
    looks: list[int] = []
    share = FIRST_LOOK_SHARE
    while not looks or looks[-1] < held_out:
        total = min(held_out, max(1, math.ceil(held_out * share)))
        if not looks or total > looks[-1]:
            looks.append(total)
        share *= ROUND_GROWTH
    return looks


def schedule(
    queries: int, train_fraction: float, *, sequential: bool, frozen: bool = False
) -> list[Round]:
    """Split one bucket's queries into rounds.

    ``train_fraction`` of the queries (rounded down, at least one) train and the rest are held
    out. Fixed-n mode plays one round. Sequential mode scores the held-out pairs at the looks of
    :func:`held_out_looks`. With ``frozen`` (certify) every training query is asked in the first
    round, so each adversary is fitted once on its whole training share; otherwise (detect) the
    training queries are spread in proportion to the held-out ones, and the adversaries refit
    on the growing training set each round.

    Args:
        queries: the bucket's queries (at least 2).
        train_fraction: the share of the queries spent on training pairs, in (0, 1).
        sequential: whether the game is played in rounds.
        frozen: whether every training query comes first.

    Returns:
        The rounds, in order; their queries add up to ``queries``, their held-out pairs reach
        the looks of :func:`held_out_looks`.
    """
    train = min(queries - 1, max(1, math.floor(queries * train_fraction)))
    held_out = queries - train
    rounds: list[Round] = []
    trained = scored = 0
    for look in held_out_looks(held_out, sequential=sequential):
        cumulative = train if frozen else max(1, math.floor(train * look / held_out))
        rounds.append(Round(cumulative - trained + look - scored, cumulative - trained))
        trained, scored = cumulative, look
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


@dataclass(frozen=True)
class Draw:
    """One round's queries in one bucket, with each query's importance weight d(x)/π(x).

    The weights are 1 for stratified acquisition, where the rounds follow the seeded plan.
    """

    queries: list[Query]
    weights: list[float]


def propensities(prompts: Sequence[str], history: PromptHistory) -> dict[str, float]:
    """π(x) for each distinct prompt: the chance that one disagreement-guided draw asks it.

    π(x) = (1 − s)·d(x) + s·d(x)e(x) / Σ_y d(y)e(y), with d(x) the prompt's share of the list,
    e(x) its :meth:`PromptHistory.disagreement` and s = :data:`DISAGREEMENT_SHARE`; π = d while
    no prompt shows any disagreement. They add up to 1 and never fall below (1 − s)·d(x).

    Args:
        prompts: the bucket's prompt list (repeats count).
        history: the bucket's earlier rounds.

    Returns:
        Distinct prompt → π(x), in order of first appearance.
    """
    shares = {prompt: count / len(prompts) for prompt, count in Counter(prompts).items()}
    telling = {prompt: share * history.disagreement(prompt) for prompt, share in shares.items()}
    total = math.fsum(telling.values())
    if total <= 0.0:
        return shares
    return {
        prompt: (1.0 - DISAGREEMENT_SHARE) * share + DISAGREEMENT_SHARE * telling[prompt] / total
        for prompt, share in shares.items()
    }


def next_queries(
    acquisition: Acquisition,
    prompts: Sequence[str],
    stratified_plan: Sequence[Query],
    size: int,
    history: PromptHistory,
    run_seed: int,
    bucket: str,
    round_index: int,
) -> Draw:
    """The queries of one bucket's next round, with their importance weights.

    ``"stratified"`` takes the next ``size`` queries of the bucket's seeded plan (so the rounds
    of a sequential game ask exactly what a fixed-n game of the same budget asks, in order).
    ``"disagreement"`` draws ``size`` prompts with replacement (seeded per bucket and round)
    from :func:`propensities`: uniformly in the first round, then more often where the
    adversaries told the teacher from the student most surely, while every prompt keeps at
    least half its share. Each query carries d(x)/π(x), which makes the weighted held-out
    correctness an unbiased estimate of the accuracy on the prompt list whatever the draws.

    Args:
        acquisition: ``"stratified"`` or ``"disagreement"``.
        prompts: the bucket's prompts.
        stratified_plan: the bucket's seeded plan for its whole budget
            (:func:`plan_queries` or :func:`plan_traffic`).
        size: how many queries the round asks.
        history: the bucket's earlier rounds (not modified).
        run_seed: the run seed.
        bucket: the bucket's name.
        round_index: the round, from 0.

    Returns:
        The round's draw; a prompt drawn again gets the next sample index.
    """
    if acquisition == "stratified":
        start = sum(history.asked.values())
        return Draw(list(stratified_plan[start : start + size]), [1.0] * size)
    chances = propensities(prompts, history)
    shares = Counter(prompts)
    candidates = list(chances)
    rng = random.Random(derive_seed(run_seed, "acquisition", bucket, round_index))
    asked = dict(history.asked)
    draw = Draw([], [])
    for prompt in rng.choices(candidates, weights=[chances[p] for p in candidates], k=size):
        draw.queries.append(Query(prompt, asked.get(prompt, 0)))
        draw.weights.append(min(WEIGHT_BOUND, shares[prompt] / len(prompts) / chances[prompt]))
        asked[prompt] = asked.get(prompt, 0) + 1
    return draw
