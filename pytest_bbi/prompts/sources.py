"""Prompt sources for the game: lists, Hypothesis strategies and JSONL traces, tagged by bucket."""

from __future__ import annotations

import codecs
import functools
import json
import os
import random
import warnings
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_bbi.errors import BbiWarning, PromptError
from pytest_bbi.generation.seeding import derive_seed

if TYPE_CHECKING:
    from hypothesis.internal.conjecture.providers import HypothesisProvider
    from hypothesis.strategies import SearchStrategy

_ACCEPTED = (
    "a list of strings or pytest_bbi.prompts.Prompt, a Hypothesis strategy of strings, a dict "
    "mapping bucket name → list of strings or strategy, or pytest_bbi.prompts.from_jsonl(path)"
)
_MAX_REJECTIONS_IN_A_ROW = 1000
"""How many draws in a row a strategy may reject (filter, assume, overrun) before draw() stops."""

_REJECTED = object()
"""What ``_draw_one`` returns when the strategy rejected the draw."""


@dataclass(frozen=True)
class Prompt:
    """One prompt of the distribution D, optionally tagged with its capability bucket.

    Attributes:
        text: the prompt sent to both models.
        bucket: the capability bucket (``"math"``, ``"style"``, …), or ``None`` for untagged.
    """

    text: str
    bucket: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise PromptError(
                f"Prompt(text={_short(self.text)}): text must be a str, not "
                f"{type(self.text).__name__}."
            )
        if self.bucket is not None and not isinstance(self.bucket, str):
            raise PromptError(
                f"Prompt(bucket={_short(self.bucket)}): bucket must be a capability name (str) "
                f"or None, not {type(self.bucket).__name__}."
            )


def from_jsonl(
    path: str | os.PathLike[str], *, text: str = "prompt", bucket: str | None = "bucket"
) -> list[Prompt]:
    """Read production traces: one JSON object per line, blank lines skipped.

    A prompt that is empty (``""``) or only whitespace is kept, since a model can be asked it
    and real traffic holds some, but it is reported in one
    :class:`~pytest_bbi.errors.BbiWarning` naming its lines, because in an export it is more
    often a bug (a missing field value, a bad join); drop such lines from the file if they are
    not real traffic.

    Args:
        path: the JSONL file (UTF-8).
        text: the field that holds the prompt.
        bucket: the field that holds the capability bucket, or ``None`` to leave the prompts
            untagged (they then take the test's capability, if any).

    Returns:
        The prompts in file order.

    Raises:
        PromptError: when the file cannot be read or holds no prompts, or a line is not a JSON
            object with a string ``text`` field (and a string ``bucket`` field when ``bucket`` is
            not ``None``); the message gives ``path:line`` and the fix.

    Warns:
        BbiWarning: when some prompts are empty or only whitespace, naming their lines.
    """
    where = os.fspath(path)
    try:
        content = Path(where).read_bytes()
    except OSError as err:
        raise PromptError(
            f"{where}: cannot read the prompt file ({err.strerror or err}); pass the path of a "
            "JSONL file with one JSON object per line."
        ) from err
    prompts = []
    blank: list[int] = []
    for number, raw in enumerate(content.removeprefix(codecs.BOM_UTF8).splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PromptError(f"{where}:{number}: not UTF-8 text ({err}); save as UTF-8.") from err
        if line.strip():
            prompts.append(_parse_line(line, f"{where}:{number}", text, bucket))
            if not prompts[-1].text.strip():
                blank.append(number)
    if not prompts:
        raise PromptError(
            f"{where}: no prompts (the file is empty or holds only blank lines); write one JSON "
            f'object per line, e.g. {{"{text}": "What is 2 + 2?"}}.'
        )
    if blank:
        lines = ", ".join(map(str, blank[:10])) + (", …" if len(blank) > 10 else "")
        warnings.warn(
            f"{where}: {len(blank)} of {len(prompts)} prompts are empty or only whitespace "
            f"(line{'s' if len(blank) > 1 else ''} {lines}); they are kept and asked as they "
            "are. Drop them from the export if they are not real traffic.",
            BbiWarning,
            stacklevel=2,
        )
    return prompts


def _parse_line(line: str, where: str, text: str, bucket: str | None) -> Prompt:
    """Parse one JSONL line into a prompt; ``where`` is ``path:line`` for the messages."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise PromptError(
            f"{where}: not valid JSON ({err}); each line must be one JSON object, e.g. "
            f'{{"{text}": "What is 2 + 2?"}}.'
        ) from err
    except RecursionError:
        raise PromptError(
            f"{where}: the line nests lists or objects too deeply for Python's JSON reader "
            "(thousands of levels); a prompt record is one flat JSON object, e.g. "
            f'{{"{text}": "What is 2 + 2?"}}.'
        ) from None
    if not isinstance(record, dict):
        raise PromptError(
            f"{where}: expected a JSON object, got {_json_type(record)}; each line must be one "
            f'JSON object, e.g. {{"{text}": "What is 2 + 2?"}}.'
        )
    keys = ", ".join(map(repr, record)) or "none"
    if text not in record:
        raise PromptError(
            f"{where}: no {text!r} field (the line has keys: {keys}); pass text=FIELD to read "
            "the prompt from another field."
        )
    prompt = record[text]
    if not isinstance(prompt, str):
        raise PromptError(
            f"{where}: field {text!r} is {_json_type(prompt)}; the prompt must be a JSON string."
        )
    if bucket is None:
        return Prompt(prompt)
    if bucket not in record:
        raise PromptError(
            f"{where}: no {bucket!r} field (the line has keys: {keys}); pass bucket=FIELD to "
            "read the capability from another field, or bucket=None for untagged prompts."
        )
    capability = record[bucket]
    if not isinstance(capability, str):
        raise PromptError(
            f"{where}: field {bucket!r} is {_json_type(capability)}; the capability must be a "
            'JSON string such as "math", or pass bucket=None for untagged prompts.'
        )
    return Prompt(prompt, capability)


def _json_type(value: object) -> str:
    """Name a parsed JSON value's type the way JSON does."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


def tag(prompts: Iterable[str], bucket: str) -> list[Prompt]:
    """Tag plain prompts with a capability bucket.

    Args:
        prompts: the prompt texts.
        bucket: the capability bucket they belong to.

    Returns:
        One :class:`Prompt` per text, in order.

    Raises:
        PromptError: when ``prompts`` is a single string or not iterable, or an item is not a
            string.
    """
    return _listed(prompts, "prompts", bucket, tagged=False)


def draw(strategy: SearchStrategy[str], count: int, *, seed: int) -> list[str]:
    """Draw ``count`` prompts from a Hypothesis strategy, as a pure function of ``seed``.

    Each prompt is drawn on its own from a ``random.Random`` seeded with a hash of ``(seed,
    attempt)``, through Hypothesis's ``ConjectureData`` (an internal API) rather than by running
    an inner ``@given`` test, because ``@given`` (checked on Hypothesis 6.170):

    - is not a function of the seed: its generator mixes in string constants scraped from
      whichever local modules happen to be imported, so the same ``@seed`` gives other prompts
      once, say, the first assertion has imported the adversaries;
    - fails the ``nested_given`` health check when called from inside a ``@given`` test, and the
      outer test's settings, not the inner ones, decide whether that is suppressed;
    - stops early on small search spaces (``sampled_from(["a", "b"])`` gives 2 examples) and
      raises ``Unsatisfiable`` rather than a usable error when everything is rejected.

    The drawing never touches the example database, never raises ``Flaky``, leaves the
    constant-injection out (for the first reason) and allows duplicates. ``assume``, ``note``
    and ``cleanup`` work in the strategy, as they would under ``@given``.

    Args:
        strategy: a strategy of strings, e.g. ``pytest_bbi.strategies.math_prompts()``.
        count: how many prompts to draw (at least 1).
        seed: the seed; the same seed gives the same list in every process.

    Returns:
        ``count`` prompts, possibly repeated; fewer only when the strategy rejects
        1000 draws in a row after some succeeded.

    Raises:
        PromptError: when ``strategy`` is not a strategy, ``count`` is not a positive int, the
            strategy produces no prompts (it is empty or rejects everything), or it draws
            something that is not a string.
    """
    from hypothesis.strategies import SearchStrategy

    if not isinstance(strategy, SearchStrategy):
        raise PromptError(
            f"draw() needs a Hypothesis strategy of strings, not {type(strategy).__name__} "
            f"({_short(strategy)}), e.g. hypothesis.strategies.text()."
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise PromptError(f"draw(count={count!r}): count must be a positive int.")
    drawn: list[str] = []
    attempt = rejected_in_a_row = 0
    while len(drawn) < count and rejected_in_a_row < _MAX_REJECTIONS_IN_A_ROW:
        value = _draw_one(strategy, derive_seed(seed, "prompt draw", index=attempt))
        attempt += 1
        if value is _REJECTED:
            rejected_in_a_row += 1
            continue
        if not isinstance(value, str):
            raise PromptError(
                f"the strategy {_short(strategy)} drew {type(value).__name__} ({_short(value)}), "
                "not a str; prompts must be strings, e.g. use strategy.map(str)."
            )
        drawn.append(value)
        rejected_in_a_row = 0
    if not drawn:
        raise PromptError(
            f"the strategy {_short(strategy)} produced no prompts: all {attempt} draws were "
            "rejected (an empty strategy such as st.nothing(), a .filter() or assume() that "
            "rejects everything, or values too large to generate). Loosen it so it yields "
            "strings."
        )
    return drawn


def _draw_one(strategy: SearchStrategy[object], seed: int) -> object:
    """Draw one value from a fresh, seeded ConjectureData; ``_REJECTED`` if it was rejected."""
    from hypothesis.control import BuildContext
    from hypothesis.errors import StopTest, UnsatisfiedAssumption
    from hypothesis.internal.conjecture.data import ConjectureData

    data = ConjectureData(random=random.Random(seed), provider=_provider())
    try:
        with BuildContext(data, wrapped_test=draw):
            return data.draw(strategy)
    except UnsatisfiedAssumption:
        return _REJECTED
    except StopTest as stop:
        if stop.testcounter != data.testcounter:
            raise
        return _REJECTED


@functools.cache
def _provider() -> type[HypothesisProvider]:
    """Hypothesis's own generator, minus the constants whose pool depends on sys.modules."""
    from hypothesis.internal.conjecture.providers import HypothesisProvider

    class NoConstantsProvider(HypothesisProvider):
        def _maybe_draw_constant(
            self, choice_type: object, constraints: object, *, p: float = 0.05
        ) -> None:
            return None

    return NoConstantsProvider


def normalize(
    prompts: object, *, count: int, seed: int, default_bucket: str | None
) -> list[Prompt]:
    """Turn what a user passes as ``prompts=`` into a list of tagged prompts.

    Args:
        prompts: an iterable of strings and/or :class:`Prompt`; a Hypothesis strategy of
            strings; or a mapping bucket name → iterable of plain strings or strategy (a
            mixture; each key is the bucket of its prompts).
        count: how many prompts to draw from each strategy.
        seed: the run seed; strategies are drawn from it (from a per-bucket seed derived from
            it in a mapping).
        default_bucket: the bucket of strings, of untagged prompts and of a lone strategy.

    Returns:
        The prompts, in the given order (sets are sorted, so the order never depends on
        ``PYTHONHASHSEED``).

    Raises:
        PromptError: for ``None``, a single string, something not iterable, an item that is
            neither a str nor a :class:`Prompt` (named by its index), a strategy that produces
            no prompts, or an empty result; the message says what is accepted.
    """
    from hypothesis.strategies import SearchStrategy

    if prompts is None:
        raise PromptError(f"prompts=None: pass the prompts to test on: {_ACCEPTED}.")
    items: list[Prompt]
    if isinstance(prompts, SearchStrategy):
        items = [Prompt(text, default_bucket) for text in draw(prompts, count, seed=seed)]
    elif isinstance(prompts, Mapping):
        items = []
        for bucket, source in prompts.items():
            if not isinstance(bucket, str):
                raise PromptError(
                    f"prompts has the key {_short(bucket)} ({type(bucket).__name__}): the keys "
                    "of a prompts mapping are capability names (str), e.g. {'math': [...]}."
                )
            if isinstance(source, SearchStrategy):
                texts = draw(source, count, seed=derive_seed(seed, "prompts", bucket))
                items += [Prompt(text, bucket) for text in texts]
            else:
                listed = _listed(source, f"prompts[{bucket!r}]", bucket, tagged=False)
                if not listed:
                    raise PromptError(
                        f"prompts[{bucket!r}] is empty: give each bucket at least one prompt."
                    )
                items += listed
    else:
        items = _listed(prompts, "prompts", default_bucket, tagged=True)
    if not items:
        raise PromptError(f"prompts is empty: pass at least one prompt: {_ACCEPTED}.")
    return items


def _listed(values: object, where: str, bucket: str | None, *, tagged: bool) -> list[Prompt]:
    """Check a finite collection of prompts and tag its strings (and untagged Prompts)."""
    if isinstance(values, str):
        raise PromptError(
            f"{where} is a single string ({_short(values)}); pass a list of prompts, e.g. "
            f"[{_short(values)}]."
        )
    if not isinstance(values, Iterable):
        raise PromptError(
            f"{where} is {type(values).__name__} ({_short(values)}), which holds no prompts; "
            f"pass {_ACCEPTED}."
        )
    items = []
    for index, item in enumerate(values):
        if isinstance(item, str):
            items.append(Prompt(item, bucket))
        elif tagged and isinstance(item, Prompt):
            items.append(item if item.bucket is not None else replace(item, bucket=bucket))
        else:
            kinds = "a str or a pytest_bbi.prompts.Prompt" if tagged else "a str"
            raise PromptError(
                f"{where}[{index}] is {type(item).__name__} ({_short(item)}): every prompt must "
                f"be {kinds}."
            )
    if isinstance(values, AbstractSet):
        items.sort(key=lambda prompt: (prompt.text, prompt.bucket or ""))
    return items


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
