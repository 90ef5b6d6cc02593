"""The rank adversary: each completion ranked among local samples, RUT-style, in the pairwise game.

After the rank-based uniformity test (RUT, Zhu et al., arXiv 2506.06975): when one side can be
sampled and scored locally, a completion's log-likelihood is ranked among m local samples for
the same prompt. A completion drawn from the local model's own distribution has a rank uniform
on {0, …, m}; one from a shifted model does not. RUT tests that uniformity on its own; here the
ranks are features of the pairwise identification game instead, so the rank adversary's calls
are counted, bounded and decided like every other adversary's (no second decision rule).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.local import PromptedPairwise, local_scorer, prompted
from pytest_bbi.adversaries.pairwise import FeatureMemo, Features
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model, TokenScorer, check_completions, check_token_log_probs

SAMPLE_PURPOSE = "rank"
"""The seed purpose of the local samples (see :func:`~pytest_bbi.generation.seeding.derive_seed`):
apart from the game's ``"teacher"`` draws, so a sample never repeats the completion it ranks."""


def rank_among(
    value: float, text: str, samples: Sequence[tuple[float, str]], coin: random.Random
) -> int:
    """How many samples rank below a completion, ties broken at random: a rank in {0, …, m}.

    A sample ties the completion when it is the same text or has the same value. For a
    completion drawn like the m samples (exchangeable with them) the rank is uniform on
    {0, …, m}, ties included.

    Args:
        value: the completion's statistic.
        text: the completion.
        samples: each sample's statistic and text.
        coin: draws the completion's place among its ties.
    """
    below = sum(1 for v, t in samples if t != text and v < value)
    tied = sum(1 for v, t in samples if t == text or v == value)
    return below + coin.randint(0, tied)


class RankAdversary(PromptedPairwise):
    """Ranks each completion's log-likelihood among m local samples; learns the two rank profiles.

    A local model — the teacher when it can score tokens, else the session's reference model
    (``--bbi-reference``), or the one passed here — is sampled ``samples`` times for every
    prompt of the game, and scores those samples and both completions of every pair (their
    log-likelihood, the sum of the token log-probabilities). Each completion's rank among its
    prompt's samples (ties broken by a seeded coin) enters as one-hot bins and a linear term
    into the antisymmetric pairwise logistic regression
    (:func:`~pytest_bbi.adversaries.pairwise.decide_pairwise`): it learns how the teacher's and
    the student's ranks are spread and calls each trial by the ratio. When the teacher is the
    local model its ranks are uniform, and a student that samples at another temperature, or
    was quantized or fine-tuned away, piles up at one end. Ranking per prompt takes out how
    hard each prompt is, which a raw score keeps.

    How it is counted: the verdict's ``queries`` are the game's queries, as for every
    adversary (q to each model); the local samples are not queries of either model in the
    game. They are the adversary's compute: ``samples`` per distinct prompt, drawn with seeds
    derived from the run seed (purpose ``"rank"``), reported as ``local_samples`` in the
    adversary's details (the samples drawn, summed over rounds and buckets), and their
    generation and scoring count against its safety limit t (the model's load does not).
    When the local model is the teacher they are teacher samples beyond q: an API student
    is queried q times, a local teacher sampled q + ``samples`` × prompts times. Samples and
    scores go through the session's caches, so a warm rerun draws and scores nothing. Its
    work cap: ``samples`` per prompt, one scoring call and ``max_iter`` solver iterations.

    Args:
        sampler: the local model; ``None`` takes the teacher when it can score tokens, else the
            session's reference model.
        samples: m, the local samples per prompt (≥ 1).
        bins: the rank bins of the one-hot features (at most m + 1 are used).
        c: inverse L2 regularization strength of the logistic regression.
        max_iter: the most iterations of the logistic regression's solver.

    Attributes:
        name: ``"rank"``.

    Raises:
        ValueError: when ``samples`` or ``bins`` is below 1.
    """

    name = "rank"

    def __init__(
        self,
        sampler: Model | None = None,
        *,
        samples: int = 16,
        bins: int = 8,
        c: float = 1.0,
        max_iter: int = 1000,
    ) -> None:
        if samples < 1:
            raise ValueError(f"samples must be >= 1; got {samples}")
        if bins < 1:
            raise ValueError(f"bins must be >= 1; got {bins}")
        self.sampler = sampler
        self.samples = samples
        self.bins = min(bins, samples + 1)
        self.c = c
        self.max_iter = max_iter
        self._bound: Model | None = None
        self._run_seed = 0
        self._memo = FeatureMemo()
        self._unbound = (
            "the rank adversary has no local model; the game calls bind(teacher, student, "
            "run_seed) first, or pass RankAdversary(sampler=model)."
        )
        self._drawn: dict[str, list[tuple[float, str]]] = {}
        self._unexplained = 0

    def bind(self, teacher: Model, student: Model, run_seed: int) -> str | None:
        """Find the local model and keep the run seed; return why it cannot play when none.

        Args:
            teacher: the reference model of the game; it is sampled when it can score tokens.
            student: unused: only its completions are ranked.
            run_seed: the run seed the samples' seeds derive from.

        Returns:
            None when a local model exists, else the reason, naming ``--bbi-reference``.
        """
        found = local_scorer(teacher, self.sampler, "RankAdversary(sampler=model)")
        if isinstance(found, str):
            return found
        self._bound, self._run_seed = found, run_seed
        self._drawn, self._memo = {}, FeatureMemo()  # nothing carries over from another game
        return None

    def explain(self, correct: Sequence[bool]) -> dict[str, int]:
        """The local samples drawn since the last call (the compute beyond the game's queries).

        Args:
            correct: unused.

        Returns:
            ``local_samples``: samples drawn for prompts this adversary had not met before.
        """
        drawn, self._unexplained = self._unexplained, 0
        return {"local_samples": drawn}

    def _featurize(self, keys: Sequence[str], deadline: Deadline) -> Features:
        prompts, completions = prompted(keys)
        self._draw([p for p in dict.fromkeys(prompts) if p not in self._drawn], deadline)
        values = self._log_likelihoods(prompts, completions)
        deadline.check()
        ranks = [
            rank_among(
                value,
                completion,
                self._drawn[prompt],
                random.Random(
                    derive_seed(self._run_seed, "rank-ties", prompt + "\x00" + completion)
                ),
            )
            for prompt, completion, value in zip(prompts, completions, values, strict=True)
        ]
        return self._rank_features(ranks), None

    def _draw(self, prompts: list[str], deadline: Deadline) -> None:
        """Sample and score ``samples`` completions for each new prompt, keeping them."""
        if not prompts:
            return
        model = self._bound
        assert model is not None  # decide() checked
        asked = [prompt for prompt in prompts for _ in range(self.samples)]
        seeds = [
            derive_seed(self._run_seed, SAMPLE_PURPOSE, prompt, index)
            for prompt in prompts
            for index in range(self.samples)
        ]
        texts = check_completions(model.name, asked, model.generate(asked, seeds))
        deadline.check()
        values = self._log_likelihoods(asked, texts)
        for start, prompt in zip(range(0, len(asked), self.samples), prompts, strict=True):
            end = start + self.samples
            self._drawn[prompt] = list(zip(values[start:end], texts[start:end], strict=True))
        self._unexplained += len(asked)

    def _log_likelihoods(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Each completion's log-likelihood under the local model, each distinct pair once.

        Scoring each distinct (prompt, completion) once makes the statistic a function of the
        text: a sample and a completion that are the same text tie exactly.
        """
        model = self._bound
        assert isinstance(model, TokenScorer)  # bind() kept only a token scorer
        distinct = list(dict.fromkeys(zip(prompts, completions, strict=True)))
        rows = check_token_log_probs(
            getattr(model, "name", "rank"),
            [completion for _, completion in distinct],
            model.token_log_probs(
                [prompt for prompt, _ in distinct], [completion for _, completion in distinct]
            ),
        )
        total = {pair: float(sum(row)) for pair, row in zip(distinct, rows, strict=True)}
        return [total[pair] for pair in zip(prompts, completions, strict=True)]

    def _rank_features(self, ranks: Sequence[int]) -> NDArray[np.float64]:
        """One-hot rank bins and the centered rank, one row per completion."""
        positions = np.asarray(ranks, dtype=np.float64) / self.samples - 0.5
        bins = np.minimum(
            (np.asarray(ranks) * self.bins) // (self.samples + 1), self.bins - 1
        ).astype(int)
        one_hot = np.zeros((len(ranks), self.bins))
        one_hot[np.arange(len(ranks)), bins] = 1.0
        return np.column_stack([one_hot, positions])
