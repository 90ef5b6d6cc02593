"""The search's engine: Hypothesis runs over the prompts, a refitted discriminator, a ranking.

:mod:`pytest_bbi.game.search` drives it and confirms what it finds; the module docstring there
says why the confirmation keeps the engine's guarantee.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_bbi.adversaries import LabeledPair, resolve
from pytest_bbi.adversaries.pairwise import PairwiseAdversary, PairwiseRule
from pytest_bbi.errors import BudgetError, PromptError
from pytest_bbi.game.acquisition import Query
from pytest_bbi.game.play import generate_role
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model
from pytest_bbi.prompts.buckets import DEFAULT_BUCKETS, check_bucket, registered_capabilities
from pytest_bbi.prompts.sources import Prompt, normalize

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


def discriminator_of(spec: str | PairwiseAdversary) -> PairwiseAdversary:
    """The search's discriminator from its name or object; it must be pairwise."""
    (adversary,) = resolve([spec])
    if not isinstance(adversary, PairwiseAdversary):
        raise BudgetError(
            f"discriminator={spec!r}: a search refits its discriminator as it goes and scores "
            "single pairs with it, which needs a pairwise adversary such as 'stylometric' or "
            "'embedding'."
        )
    return adversary


def search_space(
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
def no_scraped_constants() -> Iterator[None]:
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


def hypothesis_run(explorer: Explorer, space: SearchStrategy[Prompt], run_seed: int) -> None:
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

    explorer: Explorer
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


class Explorer:
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
