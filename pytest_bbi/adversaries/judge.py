"""The judge adversary: a judge model asked, in both orders, which completion is the teacher's."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pytest_bbi import context
from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial
from pytest_bbi.errors import AdversaryError
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models.base import Model, check_completions
from pytest_bbi.text import encodable

_INSTRUCTION = (
    "Two assistants answered the same prompt: a reference model (the teacher) and an imitation "
    "of it (the student). Say which response the teacher wrote. Answer with A or B."
)
_LABELED = re.compile(
    r"\b(?:response|answer|option|completion|choice|teacher(?:'s)?(?: is)?)\s*(?:is\s*)?[:=(\-]?"
    r"\s*\(?\s*([ab12])\b",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^\W*([ab12])(?=\s*$|\s*[.,:;)!\]\n])", re.IGNORECASE)
_ORDINAL = re.compile(r"\b(first|second)\b", re.IGNORECASE)
_TO_SIDE = {"a": "A", "1": "A", "first": "A", "b": "B", "2": "B", "second": "B"}


def parse_choice(answer: str) -> str | None:
    """Read the judge's pick, ``"A"`` or ``"B"``, from free text; ``None`` when it is unclear.

    Accepted, first match wins: a labeled letter or digit ("Response B", "Answer: (a)",
    "the teacher is 2"), a leading letter or digit standing alone ("B", " a) because …", but
    not the article in "A ripe banana"), or an ordinal ("the first one"). An answer naming both
    sides with ordinals, or none, is unclear.

    Args:
        answer: the judge's completion.

    Returns:
        ``"A"``, ``"B"`` or ``None``.
    """
    for pattern in (_LABELED, _LEADING):
        match = pattern.search(answer)
        if match:
            return _TO_SIDE[match.group(1).lower()]
    sides = {_TO_SIDE[word.lower()] for word in _ORDINAL.findall(answer)}
    return sides.pop() if len(sides) == 1 else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JudgeAdversary:
    r"""A judge model names the teacher's completion, asked in both orders (A/B-swap).

    For each held-out trial the judge sees the prompt and the two completions as "Response A"
    and "Response B", twice: once in the trial's order and once swapped, after a few labeled
    examples from the training pairs (alternating which side holds the teacher). Each order
    gives a vote for the first completion, the second, or nothing (an unparsable answer,
    see :func:`parse_choice`). The probability returned is the mean of the two votes (first = 1,
    second = 0, nothing = ½): agreeing votes decide, one vote decides alone, and inconsistent or
    unparsable pairs are 0.5, which the core settles with a seeded coin.

    That is the **coin-flip-on-inconsistent** accounting, and the decision rests on it: every
    held-out pair is counted, n is fixed in advance, and under H0 (the judge cannot tell) each
    call is right with probability ½, so the count stays Binomial(n, ½) and the exact test is
    valid. The **consistent-only** accounting (accuracy among pairs where both orders agree) is
    reported too, in ``details`` (``consistent``, ``consistent_correct``), because it is what
    papers quote, but it is not used to decide: the subset it keeps is chosen by the data (a
    judge that is consistent mostly where it happens to be right inflates it) and its size is
    random, so a binomial test on it has no guaranteed level. ``inconsistent`` and
    ``unparsable`` (answers, out of 2n) are counted as well.

    A question holding a surrogate code point (a ``str`` may) is sent with it written as its
    ``\udXXX`` escape, so any judge model can read it. Judge prompts are generated with seeds
    derived from the run seed (role ``"judge"``, see
    :func:`pytest_bbi.generation.seeding.derive_seed`), so the judge's answers replay exactly.
    Its work cap: two judge answers per trial, each question holding ``shots`` examples and
    texts clipped to ``max_chars`` characters (the judge model caps its own answer's tokens).

    Args:
        judge: the judge model (e.g. the ``judge`` fixture); ``None`` leaves the adversary
            unable to play (the verdict says so), which is what the registered name ``"judge"``
            gives: pass ``JudgeAdversary(judge)`` in ``Budget(adversaries=[...])`` instead.
        shots: labeled training pairs shown before each question.
        max_chars: each prompt and completion is clipped to this many characters.

    Attributes:
        name: ``"judge"``.

    Raises:
        ValueError: when ``shots`` is negative or ``max_chars`` < 1.
    """

    name = "judge"

    def __init__(self, judge: Model | None = None, *, shots: int = 4, max_chars: int = 400) -> None:
        if shots < 0:
            raise ValueError(f"shots must be >= 0; got {shots}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1; got {max_chars}")
        self.judge = judge
        self.shots = shots
        self.max_chars = max_chars
        self._run_seed = 0
        self._last: list[tuple[bool | None, bool | None]] = []

    def bind(self, teacher: Model, student: Model, run_seed: int) -> str | None:
        """Keep the run seed; take the session's ``judge`` model if none was given; else refuse.

        Under the plugin the judge model, given or the session's, goes through the session's
        generation cache.

        Args:
            teacher: unused.
            student: unused.
            run_seed: the run seed.

        Returns:
            None with a judge model, else the reason.
        """
        self._run_seed = run_seed
        if self.judge is None:
            load_session_judge = context.current().judge
            if load_session_judge is not None:
                self.judge = load_session_judge()
        if self.judge is None:
            return (
                "no judge model: configure one with --bbi-judge / ini bbi_judge, or pass "
                "JudgeAdversary(model) in Budget(adversaries=[...])"
            )
        self.judge = context.current().cache(self.judge)
        return None

    def _block(self, prompt: str, a: str, b: str) -> str:
        clip = self.max_chars
        return (
            f"Prompt: {_clip(prompt, clip)}\nResponse A: {_clip(a, clip)}\n"
            f"Response B: {_clip(b, clip)}\nThe teacher wrote response"
        )

    def _context(self, train: Sequence[LabeledPair]) -> str:
        parts = [_INSTRUCTION]
        for index, pair in enumerate(train[: self.shots]):
            if index % 2 == 0:
                parts.append(f"{self._block(pair.prompt, pair.teacher, pair.student)} A")
            else:
                parts.append(f"{self._block(pair.prompt, pair.student, pair.teacher)} B")
        return "\n\n".join(parts) + "\n\n"

    def decide(
        self, train: Sequence[LabeledPair], trials: Sequence[Trial], deadline: Deadline
    ) -> list[float]:
        """Ask the judge about every trial in both orders; return P(first is the teacher's).

        Args:
            train: training pairs; the first ``shots`` are the few-shot examples.
            trials: held-out pairs in hidden order.
            deadline: the safety limit, checked before and after the judge's call.

        Returns:
            One probability in {0, ¼, ½, ¾, 1} per trial, in order.

        Raises:
            AdversaryError: without a judge model.
            AdversaryTimeout: when the safety limit passes.
        """
        if self.judge is None:
            raise AdversaryError(
                "the judge adversary has no judge model; pass JudgeAdversary(judge)."
            )
        deadline.check()
        self._last = []
        if not trials:
            return []
        context = self._context(train)
        questions = [context + self._block(t.prompt, t.first, t.second) for t in trials]
        questions += [context + self._block(t.prompt, t.second, t.first) for t in trials]
        questions = [encodable(question) for question in questions]  # any judge can read them
        seeds = [derive_seed(self._run_seed, "judge", question) for question in questions]
        answers = check_completions(
            self.judge.name, questions, self.judge.generate(questions, seeds)
        )
        deadline.check()
        n = len(trials)
        probabilities: list[float] = []
        for index in range(n):
            shown, swapped = parse_choice(answers[index]), parse_choice(answers[n + index])
            votes = (
                None if shown is None else shown == "A",  # "A" is the first completion
                None if swapped is None else swapped == "B",  # swapped: "B" is the first
            )
            self._last.append(votes)
            probabilities.append(sum(0.5 if v is None else float(v) for v in votes) / 2)
        return probabilities

    def explain(self, correct: Sequence[bool]) -> dict[str, int]:
        """The consistent-only tally and the judge's failures, for the last ``decide`` call.

        Args:
            correct: per trial, whether the settled call (coins included) named the teacher.

        Returns:
            ``consistent`` (both orders parsed and agreed), ``consistent_correct`` (of those,
            right), ``inconsistent`` (both parsed, disagreed) and ``unparsable`` (answers).
        """
        consistent = [
            right
            for (shown, swapped), right in zip(self._last, correct, strict=True)
            if shown is not None and shown == swapped
        ]
        return {
            "consistent": len(consistent),
            "consistent_correct": sum(consistent),
            "inconsistent": sum(
                1 for s, w in self._last if s is not None and w is not None and s != w
            ),
            "unparsable": sum((s is None) + (w is None) for s, w in self._last),
        }
