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

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pytest_bbi import context
from pytest_bbi.adversaries import LabeledPair, resolve
from pytest_bbi.adversaries.pairwise import PairwiseAdversary, PairwiseRule
from pytest_bbi.budget import Budget
from pytest_bbi.errors import BudgetError, PromptError
from pytest_bbi.game.acquisition import Query
from pytest_bbi.game.play import generate_role
from pytest_bbi.game.run import GameRun
from pytest_bbi.game.setup import check_budget, check_decision, check_model, set_up
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model
from pytest_bbi.options import parse_seed
from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS, check_bucket, registered_capabilities
from pytest_bbi.prompts.sources import Prompt, normalize
from pytest_bbi.verdict import Verdict

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

DISCRIMINATOR = "stylometric"
"""The discriminator a search scores prompts with unless told otherwise: the stylometric
adversary (surface style and hashed n-grams), cheap enough to refit every few pairs."""

KEEP = 4
"""How many prompts a search keeps for the confirming game by default."""

HIT_CONFIDENCE = 0.97
"""A prompt is a hit, which Hypothesis then shrinks, when the discriminator fitted on the pairs
before it names the teacher of its pair with at least this probability."""

MIN_PAIRS_FOR_HIT = 8
"""No hit before the discriminator has been fitted on at least this many pairs."""

REFIT_EVERY = 4
"""The discriminator is refitted after every this many new pairs of the search."""

SHRINK_SHARE = 0.25
"""Shrinking one hit may spend at most this share of the search's queries."""

FOLDS = 4
"""The final ranking scores each pair by a discriminator fitted on the other folds."""

MAX_RUNS = 16
"""The most Hypothesis runs one search makes (each ends at its budget, a hit or a stall)."""


@dataclass(frozen=True)
class FoundPrompt:
    """One prompt a search found, with its evidence.

    Attributes:
        prompt: the prompt.
        bucket: its capability bucket, or ``None`` when untagged.
        queries: the queries the search spent on it (one pair of completions).
        confidence: the discriminator's probability of naming the teacher of its search pair,
            fitted on the other folds of the search's pairs (out of fold); ½ is a coin flip.
        advantage: 2 · confidence − 1, a one-pair estimate that chose the prompt and so is
            biased upward: the confirming game, not this number, decides.
        how: how it was found: ``"shrunk"`` (a hit shrunk by Hypothesis to a minimal prompt
            that is still a hit) or ``"ranked"`` (among the best out-of-fold confidences of
            the prompts Hypothesis generated and targeted).
    """

    prompt: str
    bucket: str | None
    queries: int
    confidence: float
    advantage: float
    how: str


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
    scorer = _discriminator(discriminator)
    test_context = context.current()
    known = (*test_context.buckets, *registered_capabilities())
    capability = capability if capability is not None else test_context.capability
    if capability is not None:
        check_bucket(capability, known)
    run_seed = test_context.seed if seed is None else parse_seed("seed", seed, text=False)
    space = _search_space(prompts, capability, known)
    explorer = _Explorer(teacher, student, scorer, budget.search_queries, run_seed)
    with _no_scraped_constants():
        for run in range(MAX_RUNS):
            spent = explorer.spent
            _hypothesis_run(explorer, space, derive_seed(run_seed, "search run", index=run))
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


def _discriminator(spec: str | PairwiseAdversary) -> PairwiseAdversary:
    (adversary,) = resolve([spec])
    if not isinstance(adversary, PairwiseAdversary):
        raise BudgetError(
            f"discriminator={spec!r}: a search refits its discriminator as it goes and scores "
            "single pairs with it, which needs a pairwise adversary such as 'stylometric' or "
            "'embedding'."
        )
    return adversary


def _search_space(
    prompts: object, capability: str | None, known: Sequence[str]
) -> SearchStrategy[Prompt]:
    """The prompts to search as one strategy of tagged prompts."""
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy

    def tagged(source: object, bucket: str | None) -> SearchStrategy[Prompt]:
        if isinstance(source, SearchStrategy):
            return source.map(lambda text: Prompt(_checked_text(text), bucket))
        listed = normalize(source, count=1, seed=0, default_bucket=bucket)
        return st.sampled_from(listed)

    if prompts is None:
        if capability is None:
            raise PromptError(
                "prompts=None outside a capability: pass the prompts to search (a Hypothesis "
                "strategy, a list of strings), or mark the test @pytest.mark.capability(NAME)."
            )
        prompts = _default_strategy(capability)
    if isinstance(prompts, Mapping):
        strategies = []
        for bucket, source in prompts.items():
            if not isinstance(bucket, str):
                raise PromptError(
                    f"prompts has the key {bucket!r:.60}: the keys of a prompts mapping are "
                    "capability names (str), e.g. {'math': [...]}."
                )
            strategies.append(tagged(source, check_bucket(bucket, known)))
        if not strategies:
            raise PromptError("prompts is an empty mapping: give at least one bucket.")
        return st.one_of(strategies)
    return tagged(prompts, capability)


def _checked_text(text: object) -> str:
    if not isinstance(text, str):
        raise PromptError(
            f"the strategy drew {type(text).__name__} ({text!r:.60}), not a str; prompts must be "
            "strings, e.g. use strategy.map(str)."
        )
    return text


def _default_strategy(capability: str) -> object:
    if capability in DEFAULT_BUCKETS:
        from pytest_bbi.strategies import bucket_prompts

        return bucket_prompts(capability)
    registered = registered_capabilities().get(capability)
    if registered is None:
        raise PromptError(
            f"capability {capability!r} has no default prompts: pass prompts=..., or register "
            f"them with pytest_bbi.register_capability({capability!r}, prompts=...)."
        )
    return registered


@contextlib.contextmanager
def _no_scraped_constants() -> Iterator[None]:
    """Run Hypothesis without the constants it scrapes from the modules imported so far.

    Hypothesis's generator sometimes inserts string and number constants found in the source
    of the local modules in ``sys.modules``, so what it generates depends on what happens to be
    imported (see :func:`pytest_bbi.prompts.sources.draw`). While the search runs, the
    ``"hypothesis"`` backend is Hypothesis's own provider minus that pool; it is restored after.
    """
    from hypothesis.internal.conjecture import providers

    class NoConstantsProvider(providers.HypothesisProvider):
        def _maybe_draw_constant(
            self, choice_type: object, constraints: object, *, p: float = 0.05
        ) -> None:
            return None

    previous = providers.AVAILABLE_PROVIDERS["hypothesis"]
    providers.AVAILABLE_PROVIDERS["hypothesis"] = NoConstantsProvider
    try:
        yield
    finally:
        providers.AVAILABLE_PROVIDERS["hypothesis"] = previous


class _Hit(Exception):
    """Raised inside a Hypothesis run for a hit, so that Hypothesis shrinks it."""

    def __init__(self, prompt: Prompt) -> None:
        super().__init__(prompt.text)
        self.prompt = prompt


def _hypothesis_run(explorer: _Explorer, space: SearchStrategy[Prompt], run_seed: int) -> None:
    """One derandomized Hypothesis run: generate, target, and shrink the first new hit."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
    from hypothesis import seed as hypothesis_seed

    run = _Run(explorer)

    def probe(prompt: Prompt) -> None:
        confidence = run.examine(prompt)
        if confidence is None:
            return
        target(confidence, label="discriminator confidence")
        if run.is_hit(prompt, confidence):
            raise _Hit(prompt)

    test = settings(
        database=None,
        max_examples=max(1, explorer.left),
        phases=(Phase.generate, Phase.target, Phase.shrink),
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
        backend="hypothesis",
    )(hypothesis_seed(run_seed)(given(space)(probe)))
    try:
        test()
    except _Hit as hit:
        explorer.hits.append(hit.prompt)


@dataclass
class _Run:
    """One Hypothesis run's view of the explorer: its query cap, and the hits it may shrink.

    Before the run's first hit the cap is the search's budget; once Hypothesis shrinks, new
    prompts may spend at most :data:`SHRINK_SHARE` of it. A prompt examined earlier keeps its
    confidence, and the cap only tightens, so Hypothesis sees a deterministic function.
    """

    explorer: _Explorer
    cap: int = field(init=False)
    shrinking: bool = False

    def __post_init__(self) -> None:
        self.cap = self.explorer.budget

    def examine(self, prompt: Prompt) -> float | None:
        return self.explorer.examine(prompt, self.cap)

    def is_hit(self, prompt: Prompt, confidence: float) -> bool:
        if prompt in self.explorer.hits or self.explorer.fitted_on[prompt] < MIN_PAIRS_FOR_HIT:
            return False
        if confidence < HIT_CONFIDENCE - 0.5:
            return False
        if not self.shrinking:
            self.shrinking = True
            shrink_queries = max(1, math.floor(self.explorer.budget * SHRINK_SHARE))
            self.cap = min(self.explorer.budget, self.explorer.spent + shrink_queries)
        return True


class _Explorer:
    """The search's pairs, its discriminator refitted as they arrive, and its query count.

    Every prompt is asked once, with seeds derived from the run seed apart from the game's
    (``derive_seed(run_seed, "search")``), so the confirming game's completions are fresh.
    """

    def __init__(
        self,
        teacher: Model,
        student: Model,
        discriminator: PairwiseAdversary,
        budget: int,
        run_seed: int,
    ) -> None:
        self.teacher, self.student = teacher, student
        self.discriminator = discriminator
        self.budget = budget
        self.seed = derive_seed(run_seed, "search")
        self.pairs: dict[Prompt, LabeledPair] = {}
        self.online: dict[Prompt, float] = {}
        self.fitted_on: dict[Prompt, int] = {}
        self.hits: list[Prompt] = []
        self._rule: PairwiseRule | None = None
        self._rule_pairs = 0

    @property
    def spent(self) -> int:
        """Queries spent: one per distinct prompt asked."""
        return len(self.pairs)

    @property
    def left(self) -> int:
        """Queries the search may still spend."""
        return self.budget - self.spent

    def examine(self, prompt: Prompt, cap: int) -> float | None:
        """The discriminator's confidence − ½ on the prompt's pair; None past ``cap``."""
        if prompt in self.online:
            return self.online[prompt]
        if self.spent >= cap:
            return None
        query = [Query(prompt.text, 0)]
        (teacher,) = generate_role(self.teacher, "teacher", query, self.seed)
        (student,) = generate_role(self.student, "student", query, self.seed)
        pair = LabeledPair(prompt.text, teacher, student)
        confidence = 0.0 if self._rule is None else self._confidence(self._rule, [pair])[0]
        self.online[prompt] = confidence
        self.fitted_on[prompt] = self._rule_pairs
        self.pairs[prompt] = pair
        if self.spent >= 2 and self.spent - self._rule_pairs >= min(REFIT_EVERY, self.spent - 1):
            self._rule = self.discriminator.fit_rule(list(self.pairs.values()))
            self._rule_pairs = self.spent
        return confidence

    def _confidence(self, rule: PairwiseRule, pairs: Sequence[LabeledPair]) -> list[float]:
        """The rule's P(names the teacher) − ½ for each pair."""
        texts = [text for pair in pairs for text in (pair.teacher, pair.student)]
        scores = rule.scores(self.discriminator.features(texts))
        return [
            1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, float(t - s))))) - 0.5
            for t, s in zip(scores[0::2], scores[1::2], strict=True)
        ]

    def out_of_fold(self) -> dict[Prompt, float]:
        """Each pair's confidence − ½ under a discriminator fitted on the other folds."""
        prompts = list(self.pairs)
        folds = [prompts[start::FOLDS] for start in range(FOLDS)]
        scored: dict[Prompt, float] = {}
        for fold in folds:
            held = set(fold)
            others = [self.pairs[p] for p in prompts if p not in held]
            if not fold or not others:
                scored.update(dict.fromkeys(fold, 0.0))
                continue
            rule = self.discriminator.fit_rule(others)
            scored.update(
                zip(fold, self._confidence(rule, [self.pairs[p] for p in fold]), strict=True)
            )
        return scored

    def found(self, keep: int) -> tuple[FoundPrompt, ...]:
        """The ``keep`` prompts with the highest out-of-fold confidence, in that order."""
        final = self.out_of_fold()
        order = {prompt: index for index, prompt in enumerate(self.pairs)}
        ranked = sorted(self.pairs, key=lambda prompt: (-final[prompt], order[prompt]))
        chosen = [
            (prompt, "shrunk" if prompt in self.hits else "ranked") for prompt in ranked[:keep]
        ]
        return tuple(
            FoundPrompt(
                prompt=prompt.text,
                bucket=prompt.bucket,
                queries=1,
                confidence=round(0.5 + final[prompt], 6),
                advantage=round(2.0 * final[prompt], 6),
                how=how,
            )
            for prompt, how in chosen
        )
