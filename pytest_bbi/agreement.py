"""``assert_agree``: a differential property check of two models on one prompt, for ``@given``."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_bbi import context
from pytest_bbi.errors import BbiWarning, BudgetError, Disagreement, PromptError
from pytest_bbi.game.setup import check_model
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import GreedyModel, Model, check_completions
from pytest_bbi.options import parse_float, parse_seed
from pytest_bbi.progress import Phase, phase

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_SEARCH_SECONDS = 120.0
"""How long one test's Hypothesis search may spend comparing new prompts, by default."""

_MEMO_LIMIT = 8192
_memo: dict[tuple[str, str, int], str] = {}
_warned_sampling: set[str] = set()


@dataclass
class _Search:
    """One test's Hypothesis search, seen through its ``assert_agree`` calls."""

    test: str
    label: str
    started: float
    progress: Phase
    compared: int = 0
    shrinking: bool = False
    capped: bool = False


_search: _Search | None = None


def _current_search() -> _Search:
    """The running test's search, started at its first ``assert_agree`` call."""
    global _search
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    if _search is None or _search.test != test:
        end_search()
        label = test.rsplit("::", 1)[-1] or "a test"
        _search = _Search(
            test,
            label,
            time.monotonic(),
            phase(f"assert_agree: searching {label} for a disagreement", unit="examples"),
        )
    return _search


def end_search() -> None:
    """End the running search's progress line; the plugin calls it after every test."""
    global _search
    if _search is not None:
        _search.progress.finish()
        _search = None


def _compared(model: Model, greedy: bool) -> Model:
    """The view of ``model`` that is compared: its greedy view when asked and it has one."""
    if not greedy:
        return model
    if isinstance(model, CachedModel):  # the cache forwards `greedy`, which would bypass it
        view = _compared(model.model, greedy)
        return model if view is model.model else CachedModel(view, model.cache)
    if isinstance(model, GreedyModel):
        return model.greedy()
    if model.identity not in _warned_sampling:
        _warned_sampling.add(model.identity)
        warnings.warn(
            BbiWarning(
                f"assert_agree compares the outputs of model {model.name!r} as it returns them "
                "(with the same seed as the other model), not greedy outputs: it has no greedy() "
                "view. If it samples, it can disagree with an identical model by chance and "
                "Hypothesis then shrinks noise. Give it a greedy() method (the protocol "
                "pytest_bbi.models.GreedyModel), or pass greedy=False to compare what the "
                "models return on purpose."
            ),
            stacklevel=3,
        )
    return model


def _completion(model: Model, prompt: str, seed: int) -> str:
    """The model's completion, memoized by (identity, prompt, seed) for Hypothesis replays."""
    key = (model.identity, prompt, seed)
    if key not in _memo:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[key] = check_completions(model.name, [prompt], model.generate([prompt], [seed]))[0]
    return _memo[key]


def _cosine(a: str, b: str) -> float:
    from pytest_bbi.adversaries.cached_embeddings import embeddings

    vectors = embeddings([a, b])
    return float((vectors[0] * vectors[1]).sum())


def assert_agree(
    teacher: Model,
    student: Model,
    prompt: str,
    *,
    similarity: Literal["embedding"] | Callable[[str, str], float] | None = None,
    threshold: float = 0.9,
    seed: int | None = None,
    greedy: bool = True,
    search_seconds: float | None = DEFAULT_SEARCH_SECONDS,
) -> None:
    """Assert that ``student`` answers ``prompt`` as ``teacher`` does, greedily.

    Made for Hypothesis: inside ``@given(prompt=...)``, a disagreement fails the example and
    Hypothesis shrinks the prompt to the smallest one that still separates the models.

    **Greedy outputs.** Whatever decoding the models were configured with (the fixtures
    usually sample), each is compared through its greedy view (``model.greedy()``, temperature
    0: see :class:`~pytest_bbi.models.GreedyModel`; every built-in backend has one), so two
    identical models always agree and a disagreement is a difference of the models, not of
    their dice. A model without a greedy view is compared as it answers, with the same seed
    (derived from the run seed and the prompt) for both models, and a
    :class:`~pytest_bbi.BbiWarning` says so once per model; ``greedy=False`` compares what the
    models return on purpose, without the warning. Completions are memoized per (model,
    prompt, seed), so replay and shrinking cost nothing twice, and under the plugin both
    models go through the session's generation cache, so a rerun generates nothing.

    **A time cap and progress.** One test's search (all the calls Hypothesis makes in it) shows
    a progress line, "searching" and then "shrinking", as it goes. After ``search_seconds`` it
    compares no new prompt: a prompt it has not compared yet passes without a model call (a
    :class:`~pytest_bbi.BbiWarning` says how long the search ran), while those it has compared
    keep their outcome, so Hypothesis reports the smallest disagreement found by then. Passing
    tests under the cap therefore speak only for the prompts compared in time.

    Args:
        teacher: the reference model.
        student: the model under test.
        prompt: the prompt.
        similarity: ``None`` compares the outputs exactly; ``"embedding"`` compares them by
            cosine similarity of MiniLM sentence embeddings; a callable ``f(a, b) -> float`` is
            used as the similarity. Outputs agree when the similarity is ≥ ``threshold``.
        threshold: the least similarity that counts as agreement.
        seed: the run seed; defaults to the session's ``--bbi-seed``.
        greedy: compare the models' greedy views (see above); ``False`` compares their
            outputs as configured.
        search_seconds: how long the test's search may compare new prompts, from its first
            call; ``None`` sets no cap.

    Raises:
        Disagreement: when the outputs differ (exactly, or below the threshold); the message
            shows the prompt and both outputs.
        BbiError: for a model that is not one, a non-string prompt, a bad similarity, a
            threshold that is not a number, or a seed that is not an int in [0, 2**63) (what
            ``--bbi-seed`` takes).
    """
    __tracebackhide__ = True
    teacher, student = check_model(teacher, "teacher"), check_model(student, "student")
    if not isinstance(prompt, str):
        raise PromptError(f"prompt={prompt!r}: assert_agree takes one prompt string.")
    if similarity is not None and similarity != "embedding" and not callable(similarity):
        raise BudgetError(
            f"similarity={similarity!r}: use None (exact), 'embedding', or a function "
            "f(a, b) -> float."
        )
    if search_seconds is not None and not search_seconds > 0:
        raise BudgetError(
            f"search_seconds={search_seconds!r}: give a positive number of seconds, or None "
            "for no time cap."
        )
    threshold = parse_float("threshold", threshold, context="assert_agree", error=BudgetError)
    run_seed = context.current().seed if seed is None else parse_seed("seed", seed, text=False)
    draw_seed = derive_seed(run_seed, "agree", prompt)
    teacher, student = _compared(teacher, greedy), _compared(student, greedy)
    search = _current_search()
    search.progress.advance()
    if not all((model.identity, prompt, draw_seed) in _memo for model in (teacher, student)):
        if _over_time(search, search_seconds):
            return
        search.compared += 1
    teacher_output = _completion(teacher, prompt, draw_seed)
    student_output = _completion(student, prompt, draw_seed)
    if similarity is None:
        if teacher_output == student_output:
            return
        score = None
    else:
        measure = _cosine if similarity == "embedding" else similarity
        score = float(measure(teacher_output, student_output))
        if score >= threshold:
            return
    if not search.shrinking:
        search.shrinking = True
        search.progress.finish()
        search.progress = phase(
            f"assert_agree: shrinking the disagreement in {search.label}", unit="examples"
        )
    detail = "" if score is None else f" (similarity {score:.3f} < {threshold:g})"
    raise Disagreement(
        f"{student.name!r} disagrees with {teacher.name!r}{detail}\n"
        f"  prompt:  {prompt!r}\n  teacher: {teacher_output!r}\n  student: {student_output!r}",
        prompt,
        teacher_output,
        student_output,
        score,
    )


def _over_time(search: _Search, seconds: float | None) -> bool:
    """Whether the search has used its time; warns once when it just ran out."""
    if seconds is None or time.monotonic() - search.started <= seconds:
        return False
    if not search.capped:
        search.capped = True
        found = (
            "the smallest disagreement found so far stands"
            if search.shrinking
            else ("no disagreement was found in time, so the test speaks only for those prompts")
        )
        warnings.warn(
            BbiWarning(
                f"assert_agree in {search.label}: the search reached its time cap "
                f"(search_seconds={seconds:g}) after comparing {search.compared} prompts; "
                f"prompts it has not compared pass from now on without a model call ({found}). "
                "Raise search_seconds, lower Hypothesis's max_examples, or use faster models."
            ),
            stacklevel=3,
        )
    return True
