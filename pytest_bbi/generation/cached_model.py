"""``CachedModel``: any model behind the generation cache, each completion stored as it arrives.

:func:`behind_cache` puts a model behind a cache once (never twice); :func:`cached` is the public
way to do so outside pytest.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_bbi.errors import ModelOutputError, NotAModelError
from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.generation.features import FeatureCache, computation_lock
from pytest_bbi.generation.progress import ProgressFile
from pytest_bbi.models.base import (
    AnswerCallback,
    IncrementalModel,
    Model,
    check_completion,
    check_completions,
    check_scores,
    check_token_log_probs,
    hide_when_backend_error,
    ignore_answers,
)


class CachedModel:
    """A :class:`~pytest_bbi.models.Model` that answers from a :class:`GenerationCache` first.

    It has the wrapped model's ``name`` and ``identity`` and forwards every other attribute to
    it; ``score``, ``token_log_probs`` and ``expected_token_log_probs``, when the wrapped model
    has them, are cached too, by (prompt, completion). It is itself an
    :class:`~pytest_bbi.models.base.IncrementalModel`. Used as a context manager, it closes its
    cache on leaving.

    Completions are stored as they arrive: a wrapped
    :class:`~pytest_bbi.models.base.IncrementalModel` (every built-in backend) hands each one
    over as soon as it is answered and it is committed at once, in its own short transaction,
    so a fault, an interrupt or ``kill -9`` loses only what was still being generated. Any
    other model is asked ``chunk_size`` completions at a time and each chunk is stored when
    it returns.

    Attributes:
        name: the wrapped model's name.
        identity: the wrapped model's identity.
        model: the wrapped model.
        cache: the cache.
        hits: how many completions were answered from the cache.
        misses: how many completions the wrapped model generated.
        chunk_size: the most completions asked of the wrapped model per call.
    """

    def __init__(
        self,
        model: Model,
        cache: GenerationCache,
        *,
        chunk_size: int = 64,
        progress: ProgressFile | None = None,
    ) -> None:
        """Wrap ``model`` so its completions are read from and written to ``cache``.

        Args:
            model: the model.
            cache: the cache.
            chunk_size: completions per call of the wrapped model, >= 1.
            progress: where to report generation progress, if anywhere.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size!r} must be >= 1")
        self.model = model
        self.cache = cache
        self.chunk_size = chunk_size
        self._progress = progress
        self._counting = threading.Lock()
        self.name = model.name
        self.identity = model.identity
        # Set on the instance, not forwarded by __getattr__: from Python 3.12 on, isinstance()
        # against a runtime-checkable protocol (Scorer, TokenScorer) looks attributes up
        # statically and never calls __getattr__, so a forwarded method would not count.
        if callable(getattr(model, "score", None)):
            self.score = self._cached_scores
        if callable(getattr(model, "token_log_probs", None)):
            self.token_log_probs = self._cached_token_log_probs
        if callable(getattr(model, "expected_token_log_probs", None)):
            self.expected_token_log_probs = self._cached_expected_token_log_probs
        self.hits = 0
        self.misses = 0

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt, generating only those the cache lacks.

        Generation of one model is serialized across processes by a lock file next to the
        cache, and the cache is read again under the lock: when several xdist workers need the
        same completions, the first generates them and the others read them, so each completion
        is generated once per cache. The wrapped model is called with the missing (prompt, seed)
        pairs in their original order, each distinct pair once, in chunks of ``chunk_size``;
        every completion is validated and stored as it arrives (see the class), so a run that
        is killed or whose server fails keeps every completion that was answered.

        Raises:
            ModelOutputError: when the wrapped model returns a wrong answer.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        __tracebackhide__ = hide_when_backend_error
        return self.generate_incrementally(prompts, seeds, ignore_answers)

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Do what :meth:`generate` does, handing completions to ``on_answered`` as they come.

        Cached completions are handed over first, then each fresh one once it is stored.

        Raises:
            ModelOutputError: when the wrapped model returns a wrong answer.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        __tracebackhide__ = hide_when_backend_error
        completions = self.cache.get_many(self.identity, prompts, seeds)
        if any(completion is None for completion in completions):
            with computation_lock(self.cache, "generate", self.identity):
                completions = self._fill(
                    prompts,
                    seeds,
                    self.cache.get_many(self.identity, prompts, seeds),
                    on_answered,
                )
        else:
            self.hits += len(completions)
            if completions:
                on_answered(range(len(completions)), [str(text) for text in completions])
        return [completion for completion in completions if completion is not None]

    def _fill(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        completions: list[str | None],
        on_answered: AnswerCallback,
    ) -> list[str | None]:
        __tracebackhide__ = hide_when_backend_error
        positions: dict[tuple[str, int], list[int]] = {}
        for index, (prompt, seed, completion) in enumerate(
            zip(prompts, seeds, completions, strict=True)
        ):
            if completion is None:
                positions.setdefault((prompt, seed), []).append(index)
        known = [index for index, completion in enumerate(completions) if completion is not None]
        self.hits += len(known)
        if known:
            on_answered(known, [str(completions[index]) for index in known])
        missing = list(positions)  # each distinct pair once, in their original order
        if not missing:
            return completions
        fresh: dict[tuple[str, int], str] = {}
        started = time.time()

        def arrived(pairs: Sequence[tuple[str, int]], texts: Sequence[str]) -> None:
            self.cache.put_many(
                self.identity, [prompt for prompt, _ in pairs], [seed for _, seed in pairs], texts
            )
            with self._counting:
                fresh.update(zip(pairs, texts, strict=True))
                self.misses += len(texts)
                if self._progress is not None:
                    self._progress.update(self.name, len(fresh), len(missing), started)
            indices = [index for pair in pairs for index in positions[pair]]
            on_answered(
                indices,
                [text for pair, text in zip(pairs, texts, strict=True) for _ in positions[pair]],
            )

        for start in range(0, len(missing), self.chunk_size):
            self._generate_chunk(missing[start : start + self.chunk_size], arrived)
        return [
            fresh[(prompt, seed)] if completion is None else completion
            for prompt, seed, completion in zip(prompts, seeds, completions, strict=True)
        ]

    def _generate_chunk(
        self,
        chunk: list[tuple[str, int]],
        arrived: Callable[[Sequence[tuple[str, int]], Sequence[str]], None],
    ) -> None:
        """Generate one chunk, passing each completion to ``arrived`` once it is validated."""
        __tracebackhide__ = hide_when_backend_error
        chunk_prompts = [prompt for prompt, _ in chunk]
        chunk_seeds = [seed for _, seed in chunk]
        if not isinstance(self.model, IncrementalModel):
            generated = check_completions(
                self.name, chunk_prompts, self.model.generate(chunk_prompts, chunk_seeds)
            )
            arrived(chunk, generated)
            return
        reported: dict[int, str] = {}
        reporting = threading.Lock()

        def on_answered(indices: Sequence[int], texts: Sequence[str]) -> None:
            indices, texts = list(indices), list(texts)
            if len(indices) != len(texts):
                raise ModelOutputError(
                    f"model {self.name!r} handed over {len(texts)} completions for "
                    f"{len(indices)} prompt indices; on_answered takes one completion per index."
                )
            for index, text in zip(indices, texts, strict=True):
                if not (isinstance(index, int) and 0 <= index < len(chunk)):
                    raise ModelOutputError(
                        f"model {self.name!r} handed over a completion for prompt index "
                        f"{index!r} of a call with {len(chunk)} prompts."
                    )
                check_completion(self.name, index, chunk_prompts[index], text)
            with reporting:
                for index, text in zip(indices, texts, strict=True):
                    if index in reported:
                        raise ModelOutputError(
                            f"model {self.name!r} handed over prompt {index} twice; each "
                            "completion is handed over once."
                        )
                    reported[index] = text
            arrived([chunk[index] for index in indices], texts)

        generated = check_completions(
            self.name,
            chunk_prompts,
            self.model.generate_incrementally(chunk_prompts, chunk_seeds, on_answered),
        )
        changed = [index for index, text in reported.items() if generated[index] != text]
        if changed:
            raise ModelOutputError(
                f"model {self.name!r} handed over {reported[changed[0]]!r:.60} for prompt "
                f"{changed[0]} but returned {generated[changed[0]]!r:.60}; a completion handed "
                "over is final."
            )
        late = [index for index in range(len(chunk)) if index not in reported]
        if late:
            arrived([chunk[index] for index in late], [generated[index] for index in late])

    def __getattr__(self, attribute: str) -> Any:
        model = vars(self).get("model")
        if model is None:
            raise AttributeError(attribute)
        return getattr(model, attribute)

    def _cached_scores(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """The wrapped model's log-probabilities of the completions, through the cache.

        They are a pure function of (model, prompt, completion), stored in the same cache under
        a derived identity, so a rerun's likelihood adversary and certificate load no model.
        """

        def score(asked: list[tuple[str, str]]) -> list[str]:
            answer = self.model.score(  # type: ignore[attr-defined]
                [prompt for prompt, _ in asked], [completion for _, completion in asked]
            )
            values = check_scores(self.name, [completion for _, completion in asked], answer)
            return [json.dumps(value) for value in values]

        texts = self._through_cache("scores", prompts, completions, score)
        return [float(json.loads(text)) for text in texts]

    def _cached_token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """The wrapped model's token log-probabilities, read from and written to the cache.

        They are a pure function of (model, prompt, completion), stored in the same cache under
        a derived identity, so a rerun's calibration report loads no model either.
        """

        def token_log_probs(asked: list[tuple[str, str]]) -> list[str]:
            answer = self.model.token_log_probs(  # type: ignore[attr-defined]
                [prompt for prompt, _ in asked], [completion for _, completion in asked]
            )
            rows = check_token_log_probs(self.name, [c for _, c in asked], answer)
            return [json.dumps(row) for row in rows]

        texts = self._through_cache("token-log-probs", prompts, completions, token_log_probs)
        return [[float(value) for value in json.loads(text)] for text in texts]

    def _cached_expected_token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """What the wrapped model expected at each token, read from and written to the cache.

        A pure function of (model, prompt, completion) too, stored like the token
        log-probabilities, so a rerun's reference adversary loads no model.
        """

        def expected(asked: list[tuple[str, str]]) -> list[str]:
            method = "expected_token_log_probs"
            answer = self.model.expected_token_log_probs(  # type: ignore[attr-defined]
                [prompt for prompt, _ in asked], [completion for _, completion in asked]
            )
            rows = check_token_log_probs(self.name, [c for _, c in asked], answer, method)
            return [json.dumps(row) for row in rows]

        texts = self._through_cache("expected-token-log-probs", prompts, completions, expected)
        return [[float(value) for value in json.loads(text)] for text in texts]

    def _through_cache(
        self,
        kind: str,
        prompts: Sequence[str],
        completions: Sequence[str],
        compute: Callable[[list[tuple[str, str]]], list[str]],
    ) -> list[str]:
        """Per (prompt, completion) pair, its stored ``kind`` of answer, computing the missing.

        Answers are features of the pair (:class:`~pytest_bbi.generation.features.FeatureCache`),
        stored as JSON under the model's identity and ``kind``, keyed by the pair: each pair is
        computed once per cache, however many processes ask.
        """
        keys = [json.dumps(pair) for pair in zip(prompts, completions, strict=True)]
        return FeatureCache(self.cache).through(
            kind,
            self.identity,
            keys,
            lambda missing: compute([(str(p), str(c)) for p, c in map(json.loads, missing)]),
        )

    def __enter__(self) -> CachedModel:
        return self

    def __exit__(self, *exception: object) -> None:
        """Close the cache (as the model made by :func:`cached` is meant to be used)."""
        self.cache.close()

    def __repr__(self) -> str:
        return f"CachedModel({self.model!r}, {self.cache!r})"


DEFAULT_DIRECTORY = ".bbi_cache"
"""Where :func:`cached` keeps its cache by default, relative to the working directory."""


def behind_cache(
    model: Model, cache: GenerationCache, *, progress: ProgressFile | None = None
) -> Model:
    """``model`` behind ``cache``; a model already behind a cache is returned unchanged.

    Args:
        model: the model.
        cache: the cache.
        progress: where to report generation progress, if anywhere.

    Returns:
        A :class:`CachedModel`, or ``model`` itself when it is one already.
    """
    if isinstance(model, CachedModel):
        return model
    return CachedModel(model, cache, progress=progress)


def cached(model: Model, cache_dir: str | os.PathLike[str] | None = None) -> Model:
    """Put ``model`` behind a generation cache on disk, for use outside pytest.

    Under the plugin you need not call it: every model that reaches
    :func:`~pytest_bbi.assert_indistinguishable`, :func:`~pytest_bbi.fingerprint` or
    :func:`~pytest_bbi.assert_agree` goes through the session's cache (``--bbi-cache-dir``).
    In a script or a notebook, ``cached(model)`` answers every (prompt, seed) it has answered
    before from the cache, generates the others once (several processes sharing the folder
    included) and caches scores and token log-probabilities the same way. Completions are keyed
    by the model's identity, prompt and seed, as under the plugin: with the default folder, run
    from the project's root, a script and the test suite share their completions.

    The cache file stays open while the model is used. Each completion is committed as it
    arrives, so nothing is lost if the process ends without closing it; close it earlier with
    ``with cached(model) as model: ...`` or ``model.cache.close()``.

    Args:
        model: the model.
        cache_dir: the cache folder; default ``.bbi_cache`` in the working directory, the
            plugin's default folder when you run from the project's root.

    Returns:
        The model behind the cache; a model already behind a cache is returned unchanged.

    Raises:
        NotAModelError: when ``model`` is not a model.
        BbiError: when the folder cannot hold the cache; the message names the fix.
    """
    if isinstance(model, CachedModel):
        return model
    if not isinstance(model, Model):
        raise NotAModelError(
            f"cached({model!r}): pass a model, e.g. pytest_bbi.models.load('hf:...') or "
            "pytest_bbi.models.from_callable(fn, name=...)."
        )
    directory = DEFAULT_DIRECTORY if cache_dir is None else cache_dir
    return CachedModel(model, GenerationCache(directory))
