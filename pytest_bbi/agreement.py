"""``assert_agree``: a differential property check of two models on one prompt, for ``@given``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pytest_bbi import context
from pytest_bbi.errors import BudgetError, Disagreement, PromptError
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model, check_completions
from pytest_bbi.options import parse_float, parse_seed

if TYPE_CHECKING:
    from collections.abc import Callable


_MEMO_LIMIT = 8192
_memo: dict[tuple[str, str, int], str] = {}


def _completion(model: Model, prompt: str, seed: int) -> str:
    """The model's completion, memoized by (identity, prompt, seed) for Hypothesis replays."""
    key = (model.identity, prompt, seed)
    if key not in _memo:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[key] = check_completions(model.name, [prompt], model.generate([prompt], [seed]))[0]
    return _memo[key]


def _cosine(a: str, b: str) -> float:
    from pytest_bbi.adversaries.encoder import load_encoder

    vectors = load_encoder().encode([a, b], normalize_embeddings=True, show_progress_bar=False)
    return float((vectors[0] * vectors[1]).sum())


def assert_agree(
    teacher: Model,
    student: Model,
    prompt: str,
    *,
    similarity: Literal["embedding"] | Callable[[str, str], float] | None = None,
    threshold: float = 0.9,
    seed: int | None = None,
) -> None:
    """Assert that ``student`` answers ``prompt`` as ``teacher`` does.

    Made for Hypothesis: inside ``@given(prompt=...)``, a disagreement fails the example and
    Hypothesis shrinks the prompt to the smallest one that still separates the models. Both
    models get the same seed (derived from the run seed and the prompt), so greedy models are
    compared output to output and sampling models draw with the same randomness. Completions
    are memoized per (model, prompt, seed), so replay and shrinking cost nothing twice.

    Args:
        teacher: the reference model.
        student: the model under test.
        prompt: the prompt.
        similarity: ``None`` compares the outputs exactly; ``"embedding"`` compares them by
            cosine similarity of MiniLM sentence embeddings; a callable ``f(a, b) -> float`` is
            used as the similarity. Outputs agree when the similarity is ≥ ``threshold``.
        threshold: the least similarity that counts as agreement.
        seed: the run seed; defaults to the session's ``--bbi-seed``.

    Raises:
        Disagreement: when the outputs differ (exactly, or below the threshold); the message
            shows the prompt and both outputs.
        BbiError: for a non-string prompt, a bad similarity, a threshold that is not a number,
            or a seed that is not an int in [0, 2**63) (what ``--bbi-seed`` takes).
    """
    __tracebackhide__ = True
    if not isinstance(prompt, str):
        raise PromptError(f"prompt={prompt!r}: assert_agree takes one prompt string.")
    if similarity is not None and similarity != "embedding" and not callable(similarity):
        raise BudgetError(
            f"similarity={similarity!r}: use None (exact), 'embedding', or a function "
            "f(a, b) -> float."
        )
    threshold = parse_float("threshold", threshold, context="assert_agree", error=BudgetError)
    run_seed = context.current().seed if seed is None else parse_seed("seed", seed, text=False)
    draw_seed = derive_seed(run_seed, "agree", prompt)
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
    detail = "" if score is None else f" (similarity {score:.3f} < {threshold:g})"
    raise Disagreement(
        f"{student.name!r} disagrees with {teacher.name!r}{detail}\n"
        f"  prompt:  {prompt!r}\n  teacher: {teacher_output!r}\n  student: {student_output!r}",
        prompt,
        teacher_output,
        student_output,
        score,
    )
