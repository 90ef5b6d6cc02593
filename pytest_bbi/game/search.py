"""Adaptive prompt search: look for the prompts that give the student away, then confirm.

A search spends its share of the query budget asking both models prompts chosen by
Hypothesis's targeted search: each prompt's pair of completions is scored by a discriminator
(the stylometric adversary by default) refitted on the pairs seen so far, and
``hypothesis.target()`` steers generation toward prompts the discriminator is sure about. A
prompt it is very sure about is a *hit*, which Hypothesis shrinks toward a minimal prompt that is
still a hit. Then every pair of the search is re-scored out of fold, and the best prompts are
kept.

The search's own evidence decides nothing: it looked at its completions to choose the prompts,
so any test on them would be biased. The prompts found are tested by an ordinary game
(:class:`~pytest_bbi.game.run.GameRun`, decided by :mod:`pytest_bbi.game.decision`) on fresh
samples, drawn with the run seed while the search drew with seeds derived apart from it, on the
queries the search left. Conditionally on the prompts found, that game is a fixed design whose
randomness the search never saw, so its error guarantee holds as it does for any prompt list: if
the student's advantage is at most ε on every prompt, it fails with probability at most α. Its
verdict speaks for the prompts found, not for the distribution searched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pytest_bbi.adversaries.pairwise import PairwiseAdversary
from pytest_bbi.budget import Budget
from pytest_bbi.errors import BudgetError, PromptError
from pytest_bbi.game.explorer import (
    DISCRIMINATOR,
    KEEP,
    MAX_RUNS,
    Explorer,
    FoundPrompt,
    discriminator_of,
    hypothesis_run,
    no_scraped_constants,
    search_space,
)
from pytest_bbi.game.run import GameRun
from pytest_bbi.game.setup import (
    check_budget,
    check_decision,
    check_model,
    resolve_context,
    set_up,
)
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model
from pytest_bbi.prompts.sources import Prompt
from pytest_bbi.verdict import Verdict

__all__ = [
    "Exploration",
    "FoundPrompt",
    "SearchResult",
    "described",
    "explore",
    "search",
    "search_first",
]


@dataclass(frozen=True)
class Exploration:
    """What a search found, before the confirming game.

    Attributes:
        found: the prompts kept for the confirming game, shrunk hits first, then by confidence.
        discriminator: the name of the discriminator that scored the prompts.
        queries: the queries the search spent (distinct prompts it asked both models).
        budget_queries: the budget's q, shared by the search and the confirmation.
        share: the budget's ``search_share``: the most of q the search could spend.
        hits: how many hits Hypothesis shrank.
    """

    found: tuple[FoundPrompt, ...]
    discriminator: str
    queries: int
    budget_queries: int
    share: float
    hits: int

    @property
    def confirming_queries(self) -> int:
        """The queries left for the confirming game: every one the search did not spend."""
        return self.budget_queries - self.queries

    def confirming(self, budget: Budget) -> tuple[list[Prompt], Budget]:
        """The confirming game's prompts and budget: the prompts found, the queries left.

        The game is an ordinary stratified one (fixed-n or sequential as ``budget`` says),
        with the budget's adversaries, training share and time limit.
        """
        prompts = [Prompt(found.prompt, found.bucket) for found in self.found]
        return prompts, replace(budget, queries=self.confirming_queries, acquisition="stratified")

    def describe(self) -> str:
        """The search's lines for a report: the split of q, the discriminator, the prompts."""
        lines = [
            f"search: {self.queries} of {self.budget_queries} queries (search_share "
            f"{self.share:g}) asked {self.discriminator!r} where the student gives itself away; "
            f"the verdict above is the confirming game's, on fresh samples of the "
            f"{len(self.found)} prompts found, with the other {self.confirming_queries} queries:"
        ]
        lines += [
            f"  {found.how}: {found.prompt!r:.100} (search confidence {found.confidence:.2f})"
            for found in self.found
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class SearchResult:
    """A search and its confirming game.

    Attributes:
        found: the prompts found, with their evidence (see :class:`FoundPrompt`).
        verdict: the confirming game's verdict, on fresh samples of the prompts found; it
            speaks for those prompts. ``verdict.queries`` counts the confirmation's queries.
        discriminator: the name of the discriminator that scored the prompts during the search.
        search_queries: the queries the search spent.
        confirm_queries: the queries the confirming game could spend (q minus the search's).
        budget_queries: q, which the two share.
        share: the budget's ``search_share``.
        exploration: the search itself (``describe()`` gives its report lines).
    """

    found: tuple[FoundPrompt, ...]
    verdict: Verdict
    discriminator: str
    search_queries: int
    confirm_queries: int
    budget_queries: int
    share: float
    exploration: Exploration

    @property
    def passed(self) -> bool:
        """Whether the confirming game passed (``"undetected"``)."""
        return self.verdict.passed


def search(
    teacher: Model,
    student: Model,
    prompts: object = None,
    *,
    budget: Budget,
    epsilon: float,
    alpha: float = 0.05,
    capability: str | None = None,
    seed: int | None = None,
    keep: int = KEEP,
    discriminator: str | PairwiseAdversary = DISCRIMINATOR,
) -> SearchResult:
    """Search for prompts where the student is most distinguishable, then confirm on them.

    The search may spend ``budget.search_queries`` (``search_share`` of q, half by default):
    Hypothesis generates prompts from ``prompts`` (any strategy, a perturbation of one, a
    list, or a mapping bucket → either), and each prompt is asked of both models once. A
    ``discriminator`` refitted on the search's pairs every few pairs scores each new pair, and
    ``hypothesis.target()`` on that confidence steers the search; a prompt the discriminator
    is very sure about is shrunk by Hypothesis toward a minimal prompt. The search is
    derandomized: Hypothesis runs from seeds derived from the run seed, with no example
    database and without the constants it would scrape from imported modules, so the same seed
    finds the same prompts. Every completion goes through the session's generation cache.

    The ``keep`` best prompts are then tested in a separate, ordinary detect game (the
    budget's adversaries, the decision of :func:`~pytest_bbi.assert_indistinguishable`) on
    fresh samples and the queries the search left. Nothing that game tests was seen by the
    search, so if the student's advantage is at most ε on every prompt it fails with
    probability at most α; its verdict speaks for the prompts found.

    Args:
        teacher: the reference model.
        student: the model under test.
        prompts: the prompts to search over: a Hypothesis strategy of strings, a list of
            strings or :class:`~pytest_bbi.prompts.Prompt`, or a mapping bucket → strategy or
            list; ``None`` inside a capability searches that bucket's default strategy.
        budget: q (shared by the search and the confirmation), its ``search_share``, and the
            confirming game's adversaries, training share, time limit and schedule.
        epsilon: ε of the confirming game, in [0, 1).
        alpha: α of the confirming game, in (0, 1).
        capability: the bucket of untagged prompts; defaults to the test's marker.
        seed: the run seed; defaults to the session's ``--bbi-seed``.
        keep: how many prompts the confirming game tests (at least 1).
        discriminator: the adversary that scores prompts during the search: a registered
            name or object of a pairwise adversary (``"stylometric"``, ``"embedding"``).

    Returns:
        The prompts found with their evidence, and the confirming game's verdict.

    Raises:
        BbiError: for bad arguments, prompts, models or adversaries; the message says the fix.
    """
    budget = check_budget(budget)
    check_decision(epsilon, alpha, "detect")
    teacher, student = check_model(teacher, "teacher"), check_model(student, "student")
    exploration = explore(
        teacher,
        student,
        prompts,
        budget,
        capability=capability,
        seed=seed,
        keep=keep,
        discriminator=discriminator,
    )
    found, confirming = exploration.confirming(budget)
    setup = set_up(found, confirming, capability=capability, seed=seed)
    game = GameRun(setup, teacher, student, confirming, "detect", epsilon, alpha)
    game.play()
    return SearchResult(
        found=exploration.found,
        verdict=game.verdict(game.decide()),
        discriminator=exploration.discriminator,
        search_queries=exploration.queries,
        confirm_queries=exploration.confirming_queries,
        budget_queries=budget.queries,
        share=budget.search_share,
        exploration=exploration,
    )


def explore(
    teacher: Model,
    student: Model,
    prompts: object,
    budget: Budget,
    *,
    capability: str | None,
    seed: int | None,
    keep: int = KEEP,
    discriminator: str | PairwiseAdversary = DISCRIMINATOR,
    mode: str = "detect",
) -> Exploration:
    """Run the search alone (see :func:`search`); the models must already be checked.

    Raises:
        BudgetError: for ``mode="certify"`` (a search looks for failures; a certificate on the
            prompts it found would speak for nothing a user chose), or a bad ``keep``.
        AdversaryError: for a discriminator that is not a pairwise adversary.
        PromptError: for prompts that cannot be searched.
    """
    if mode != "detect":
        raise BudgetError(
            "Budget(acquisition='search') needs mode='detect': a search looks for prompts that "
            "give the student away, and its confirming game shows a difference on them; a "
            "certificate on searched prompts would speak for nothing you chose. Certify with "
            "acquisition='stratified'."
        )
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise BudgetError(f"keep={keep!r}: keep is how many prompts to confirm, an int >= 1.")
    scorer = discriminator_of(discriminator)
    known, capability, run_seed = resolve_context(capability, seed)
    space = search_space(prompts, capability, known)
    explorer = Explorer(teacher, student, scorer, budget.search_queries, run_seed)
    with no_scraped_constants():
        for run in range(MAX_RUNS):
            spent = explorer.spent
            hypothesis_run(explorer, space, derive_seed(run_seed, "search run", index=run))
            if explorer.left == 0 or explorer.spent == spent:
                break
    if not explorer.pairs:
        raise PromptError(
            "the search asked no prompt: the strategy produced none (it rejects every draw); "
            "loosen it so it yields strings."
        )
    return Exploration(
        found=explorer.found(keep),
        discriminator=scorer.name,
        queries=explorer.spent,
        budget_queries=budget.queries,
        share=budget.search_share,
        hits=len(explorer.hits),
    )


def search_first(
    teacher: Model,
    student: Model,
    prompts: object,
    budget: Budget,
    capability: str | None,
    seed: int | None,
    mode: str,
) -> tuple[Exploration | None, object, Budget]:
    """For ``Budget(acquisition="search")``: search, and give the confirming game's material.

    Returns:
        The exploration (``None`` for any other acquisition), and the prompts and budget of
        the game to play: the prompts found and the queries left after a search, else
        ``prompts`` and ``budget`` as they are.
    """
    if budget.acquisition != "search":
        return None, prompts, budget
    exploration = explore(
        teacher, student, prompts, budget, capability=capability, seed=seed, mode=mode
    )
    found, confirming = exploration.confirming(budget)
    return exploration, found, confirming


def described(exploration: Exploration | None) -> str:
    """The search's lines for a failure message, after a newline; empty without a search."""
    return "" if exploration is None else "\n" + exploration.describe()
