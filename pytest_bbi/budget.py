"""The budget: queries q, compute seconds t, the adversary class 𝔸 and the population."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union, get_args

from pytest_bbi.errors import BudgetError

if TYPE_CHECKING:
    from pytest_bbi.adversaries import Adversary

AdversarySpec = Union[str, "Adversary"]
Acquisition = Literal["stratified", "disagreement", "search"]
Population = Literal["prompts", "traffic"]

MAX_QUERIES = 1_000_000
"""The most queries a budget may ask for: one million.

Beyond it a budget buys nothing a behavioral test can use, and is almost surely a typo: at
10⁶ queries a fixed-n game already detects an advantage of about 0.004 (one adversary,
α = 0.05, power 0.8), far below the ε of any behavioral test (0.01 needs about 10⁵), while it
makes two million model calls and holds every completion of a round in memory (about 1 GB).
Test more prompts in more tests or buckets instead: each gets its own budget.
"""


@dataclass(frozen=True)
class Budget:
    """What an adversary may spend to tell the student from the teacher.

    Args:
        queries: q, the number of prompts sent to *each* model (at least 2, at most
            :data:`MAX_QUERIES`). Part of them train learned adversaries, the rest are the
            held-out pairs every adversary is scored on.
        seconds: t, the compute each adversary may spend fitting and deciding (generation is not
            counted). ``None`` means unbounded.
        adversaries: the class 𝔸, as registered names (``"stylometric"``, ``"embedding"``) or
            objects following the :class:`~pytest_bbi.Adversary` protocol. ``None`` selects the
            default class.
        train_fraction: the share of the q queries spent on training pairs, in (0, 1); the rest
            are held out. Every adversary is scored only on held-out pairs.
        sequential: play each bucket's held-out pairs in planned rounds and stop a bucket as
            soon as its decision is settled. Every (bucket, adversary) cell is tested by an
            exact one-sided group-sequential design on the known round schedule (Lan–DeMets
            alpha spending of the O'Brien–Fleming type over exact binomial boundaries), so
            stopping early keeps the error rate. The held-out rounds grow geometrically from
            1/16 of a bucket's held-out pairs. In ``mode="detect"`` each round also adds
            training pairs and learned adversaries refit on all of them; in
            ``mode="certify"`` every training pair comes first and each adversary is fitted
            once, so a certificate speaks for the adversary trained on its whole training share.
            The default ``False`` plays one round of all q queries with exact fixed-n tests,
            which at the full budget has slightly more power; turn it on when queries are
            expensive or most runs are expected to be clear-cut.
        acquisition: which prompts the queries ask, within each bucket's equal share:
            ``"stratified"`` (default: a seeded random order of the bucket's prompts, the strong
            baseline) or ``"disagreement"`` (needs ``sequential=True``): prompts are drawn with
            replacement, from the second round on more often where the adversaries told the
            models apart most surely, with known propensities that never fall below half a
            prompt's share. Each held-out pair is weighted by (its prompt's share of the list) /
            (its propensity) and decided with anytime-valid betting confidence bounds, so the
            verdict still speaks for the prompt list, not for the reweighted draws.
            ``"search"`` (``mode="detect"`` only) spends ``search_share`` of the queries
            searching for prompts where the student is most distinguishable (Hypothesis's
            targeted search on a discriminator's confidence, see :func:`pytest_bbi.search`),
            then plays the rest in an ordinary stratified game on fresh samples of the prompts
            found: that confirming game decides, and its verdict speaks for those prompts.
        population: what the verdict speaks for. ``"prompts"`` (default): the prompt list as
            given, each entry weighted equally (short lists are cycled). ``"traffic"``: the
            list is a random sample of real traffic and the verdict speaks for that traffic:
            every held-out pair gets its own list entry (never reused, never trained on), so
            each bucket needs more prompts than held-out pairs.
        search_share: with ``acquisition="search"``, the share of the q queries the search may
            spend, in (0, 1); the confirming game gets every query the search leaves (at least
            the other half, by default). Ignored by the other acquisitions.

    Raises:
        BudgetError: when a field is out of range; the message names the field and the fix.
    """

    queries: int
    seconds: float | None = None
    adversaries: Sequence[AdversarySpec] | None = None
    train_fraction: float = 0.5
    sequential: bool = False
    acquisition: Acquisition = "stratified"
    population: Population = "prompts"
    search_share: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.queries, bool) or not isinstance(self.queries, int):
            raise BudgetError(
                f"Budget(queries={self.queries!r}): queries must be an int, the number of prompts "
                "sent to each model, e.g. Budget(queries=400)."
            )
        if self.queries > MAX_QUERIES:
            shown = f"{self.queries:,}" if self.queries < 10**30 else "a number of 30+ digits"
            raise BudgetError(
                f"Budget(queries={shown}): at most {MAX_QUERIES:,} queries; at that size the "
                "game already detects advantages of about 0.004, far below any useful ε, and "
                "makes two million model calls. Lower queries, or spread the prompts over more "
                "tests (each has its own budget)."
            )
        if self.queries < 2:
            raise BudgetError(
                f"Budget(queries={self.queries}): queries must be at least 2 (one training and one "
                "held-out pair); a useful test needs a few hundred, e.g. Budget(queries=400)."
            )
        if self.seconds is not None:
            if isinstance(self.seconds, bool) or not isinstance(self.seconds, int | float):
                raise BudgetError(
                    f"Budget(seconds={self.seconds!r}): seconds must be a number or None."
                )
            if not math.isfinite(self.seconds) or self.seconds <= 0:
                raise BudgetError(
                    f"Budget(seconds={self.seconds!r}): seconds must be a finite number > 0, "
                    "or None for no time limit, e.g. Budget(queries=400, seconds=60)."
                )
        fraction = self.train_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise BudgetError(
                f"Budget(train_fraction={self.train_fraction!r}): train_fraction must be a number "
                "in (0, 1), e.g. Budget(queries=400, train_fraction=0.5)."
            )
        if not 0.0 < self.train_fraction < 1.0:
            raise BudgetError(
                f"Budget(train_fraction={self.train_fraction!r}): train_fraction must lie in "
                "(0, 1); 0.5 spends half the queries on training pairs."
            )
        held_out = self.queries - math.floor(self.queries * self.train_fraction)
        if held_out < 1 or math.floor(self.queries * self.train_fraction) < 1:
            raise BudgetError(
                f"Budget(queries={self.queries}, train_fraction={self.train_fraction}): this "
                "leaves no training or no held-out pair; raise queries or move train_fraction "
                "toward 0.5."
            )
        if not isinstance(self.sequential, bool):
            raise BudgetError(
                f"Budget(sequential={self.sequential!r}): sequential must be True (planned rounds "
                "that stop once the decision is settled) or False (one fixed-n round)."
            )
        if self.acquisition not in get_args(Acquisition):
            raise BudgetError(
                f"Budget(acquisition={self.acquisition!r}): use 'stratified' (a seeded random "
                "order within each bucket), 'disagreement' (with sequential=True) or 'search' "
                "(search for telling prompts, then confirm on fresh samples)."
            )
        if self.acquisition == "disagreement" and not self.sequential:
            raise BudgetError(
                "Budget(acquisition='disagreement') needs earlier rounds to learn from: pass "
                "sequential=True as well, or use acquisition='stratified'."
            )
        if self.population not in get_args(Population):
            raise BudgetError(
                f"Budget(population={self.population!r}): use 'prompts' (the verdict speaks for "
                "the prompt list) or 'traffic' (the list is a sample of real traffic)."
            )
        if self.population == "traffic" and self.acquisition == "disagreement":
            raise BudgetError(
                "Budget(population='traffic', acquisition='disagreement'): the traffic "
                "population needs one held-out pair per prompt, which reweighted draws with "
                "replacement cannot give; use acquisition='stratified'."
            )
        self._check_search()
        adversaries = self.adversaries
        if adversaries is not None:
            if isinstance(adversaries, str) or not isinstance(adversaries, Sequence):
                raise BudgetError(
                    f"Budget(adversaries={adversaries!r}): adversaries must be a list of names or "
                    "Adversary objects, e.g. adversaries=['stylometric'], or None for the default."
                )
            if len(adversaries) == 0:
                raise BudgetError(
                    "Budget(adversaries=[]): the adversary class is empty, so nothing would be "
                    "tested; name at least one adversary or pass None for the default class."
                )
            adversaries = tuple(adversaries)
        object.__setattr__(self, "adversaries", adversaries)

    def _check_search(self) -> None:
        share = self.search_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise BudgetError(
                f"Budget(search_share={share!r}): search_share is the share of the queries a "
                "search may spend and must lie in (0, 1), e.g. 0.5."
            )
        if self.acquisition != "search":
            return
        if self.population == "traffic":
            raise BudgetError(
                "Budget(population='traffic', acquisition='search'): a search chooses the "
                "prompts the confirming game asks, so its verdict speaks for the prompts found, "
                "never for traffic; use population='prompts' or acquisition='stratified'."
            )
        confirming = self.queries - self.search_queries
        if self.search_queries < 1 or math.floor(confirming * self.train_fraction) < 1:
            raise BudgetError(
                f"Budget(queries={self.queries}, acquisition='search', search_share={share}): "
                f"this leaves {self.search_queries} queries to search and {confirming} to "
                "confirm, too few for a search and a game with a training and a held-out pair; "
                "raise queries (a few hundred) or move search_share toward 0.5."
            )

    @property
    def search_queries(self) -> int:
        """With ``acquisition="search"``, the most queries the search may spend."""
        return math.floor(self.queries * self.search_share)

    @property
    def train_queries(self) -> int:
        """The number of queries spent on training pairs."""
        return math.floor(self.queries * self.train_fraction)

    @property
    def test_queries(self) -> int:
        """The number of held-out pairs every adversary is scored on."""
        return self.queries - self.train_queries
