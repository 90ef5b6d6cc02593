"""Character-level perturbations: typos, casing, spacing, punctuation, confusables, zero-width."""

from __future__ import annotations

import re
import string
import unicodedata

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from pytest_bbi.strategies._validation import check_drawn, check_int, check_prompts

MAX_TYPOS = 100

# -- typos ---------------------------------------------------------------------------------------

_TYPO_KINDS = ("delete", "swap", "replace", "insert")

# QWERTY neighbors: the letters a finger slipping off each key hits.
_NEARBY_KEYS: dict[str, str] = {
    "a": "qwsz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}


def _slip(draw: DrawFn, near: str) -> str:
    """A letter typed by slipping off the key of ``near``; never ``near`` itself."""
    letter = draw(st.sampled_from(_NEARBY_KEYS.get(near.lower(), string.ascii_lowercase)))
    return letter.upper() if near.isupper() else letter


def _one_typo(draw: DrawFn, text: str, kind: str) -> str:
    """``text`` with one typo of ``kind``, or with an inserted letter when ``kind`` can't apply."""
    letters = [i for i, char in enumerate(text) if char.isalpha()]
    if kind == "swap":
        swappable = [
            i
            for i in range(len(text) - 1)
            if text[i] != text[i + 1] and (text[i].isalpha() or text[i + 1].isalpha())
        ]
        if swappable:
            i = draw(st.sampled_from(swappable))
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    elif kind == "delete" and letters:
        i = draw(st.sampled_from(letters))
        return text[:i] + text[i + 1 :]
    elif kind == "replace" and letters:
        i = draw(st.sampled_from(letters))
        return text[:i] + _slip(draw, text[i]) + text[i + 1 :]
    i = draw(st.integers(0, len(text)))
    near = text[i - 1] if i else text[:1] or "a"
    return text[:i] + _slip(draw, near) + text[i:]


@st.composite
def _typos(draw: DrawFn, prompts: SearchStrategy[str], count: int) -> str:
    original = check_drawn("typos", draw(prompts))
    text = original
    for _ in range(count):
        text = _one_typo(draw, text, draw(st.sampled_from(_TYPO_KINDS)))
    if text == original:  # the typos undid each other, e.g. one swap swapped back
        text = _one_typo(draw, text, "replace")
    return text


def typos(prompts: SearchStrategy[str], *, count: int = 1) -> SearchStrategy[str]:
    """Each prompt with ``count`` keyboard typos: a deleted, swapped, replaced or inserted letter.

    Replaced and inserted letters are QWERTY neighbors of the letter they replace or follow, in
    the same case. The result always differs from the prompt and its length is within
    ``count`` of the prompt's. Fallback: a typo kind that cannot apply (no letter to delete,
    replace or swap with a different neighbor, as in ``""`` or ``"123"``) inserts a letter
    instead; typos that undo each other get one more replaced (or inserted) letter.

    Args:
        prompts: the strategy whose prompts to perturb.
        count: how many typos to make, from 1 to 100.

    Returns:
        A strategy of misspelled prompts; it shrinks as ``prompts`` does, then toward deleting a
        letter early in the prompt.

    Raises:
        InvalidArgument: ``prompts`` is not a strategy, or ``count`` is not an int in 1..100.
    """
    check_prompts("typos", prompts)
    check_int("typos", "count", count, 1, MAX_TYPOS)
    return _typos(prompts, count)


# -- casing --------------------------------------------------------------------------------------

_CASINGS = ("lower", "upper", "title", "random")
_RANDOM_CASE_PERIOD = 64


def _recase(char: str, upper: bool) -> str:
    """``char`` recased, or kept where that would change its length or its casefold.

    ``"ß".upper()`` is ``"SS"`` and ``"İ".lower()`` has two code points, so both stay.
    """
    new = char.upper() if upper else char.lower()
    return new if len(new) == 1 and new.casefold() == char.casefold() else char


def _title(text: str) -> str:
    out = []
    in_word = False
    for char in text:
        out.append(_recase(char, upper=not in_word))
        in_word = char.isalnum() or char in "'’"
    return "".join(out)


def _fixed_case(text: str, casing: str) -> str:
    if casing == "title":
        return _title(text)
    return "".join(_recase(char, upper=casing == "upper") for char in text)


@st.composite
def _casing(draw: DrawFn, prompts: SearchStrategy[str]) -> str:
    text = check_drawn("casing", draw(prompts))
    casing = draw(st.sampled_from(_CASINGS))
    if casing == "random":
        cased = [i for i, char in enumerate(text) if char.lower() != char.upper()]
        size = min(len(cased), _RANDOM_CASE_PERIOD)
        pattern = draw(st.lists(st.booleans(), min_size=size, max_size=size))
        chars = list(text)
        for k, i in enumerate(cased):
            chars[i] = _recase(text[i], upper=pattern[k % size])
        out = "".join(chars)
    else:
        out = _fixed_case(text, casing)
    for fallback in _CASINGS[:3]:  # keep the promise to change something, where one can
        if out != text:
            break
        out = _fixed_case(text, fallback)
    return out


def casing(prompts: SearchStrategy[str]) -> SearchStrategy[str]:
    """Each prompt in lower case, upper case, title case or random case ("wHaT iS ...").

    Characters are recased one at a time and kept where recasing would change their length or
    their case-insensitive identity, so ``out.casefold() == prompt.casefold()`` and the length
    is unchanged. Fallback: when the drawn casing changes nothing, the first of lower, upper
    and title case that does is used; a prompt without cased letters (``""``, ``"42"``,
    ``"你好"``) comes back unchanged.

    Args:
        prompts: the strategy whose prompts to perturb.

    Returns:
        A strategy of recased prompts; it shrinks as ``prompts`` does, then toward lower case.

    Raises:
        InvalidArgument: ``prompts`` is not a strategy.
    """
    check_prompts("casing", prompts)
    return _casing(prompts)


# -- whitespace ----------------------------------------------------------------------------------

_WHITESPACE_RUNS = ("  ", "\t", "\n", " \n ", "\n\n", "   ", " \t", "\u00a0", "\r\n", "\u3000")
_WHITESPACE_PLACES = ("trailing", "leading", "both", "one gap", "every gap")
_WHITESPACE = re.compile(r"\s+")


@st.composite
def _whitespace(draw: DrawFn, prompts: SearchStrategy[str]) -> str:
    text = check_drawn("whitespace", draw(prompts))
    place = draw(st.sampled_from(_WHITESPACE_PLACES))
    run = draw(st.sampled_from(_WHITESPACE_RUNS))
    gaps = list(_WHITESPACE.finditer(text))
    if place == "one gap" and gaps:
        gap = draw(st.sampled_from(gaps))
        out = text[: gap.start()] + run + text[gap.end() :]
    elif place == "every gap" and gaps:
        out = _WHITESPACE.sub(run, text)
    elif place == "leading":
        out = run + text
    elif place == "both":
        out = run + text + draw(st.sampled_from(_WHITESPACE_RUNS))
    else:
        out = text + run
    return out if out != text else text + " "


def whitespace(prompts: SearchStrategy[str]) -> SearchStrategy[str]:
    """Each prompt with odd whitespace: leading, trailing, or replacing the gaps between words.

    Added whitespace mixes doubled spaces, tabs, newlines, CR LF, no-break and ideographic
    spaces, and goes only where whitespace already is or at the ends, so
    ``" ".join(out.split()) == " ".join(prompt.split())`` and the result always differs.
    Fallback: a prompt without gaps between words gets trailing whitespace, and one whose gap
    was replaced by identical whitespace gets a trailing space.

    Args:
        prompts: the strategy whose prompts to perturb.

    Returns:
        A strategy of re-spaced prompts; it shrinks as ``prompts`` does, then toward two
        trailing spaces.

    Raises:
        InvalidArgument: ``prompts`` is not a strategy.
    """
    check_prompts("whitespace", prompts)
    return _whitespace(prompts)


# -- punctuation ---------------------------------------------------------------------------------

_PUNCTUATION_EDITS = ("drop", "duplicate", "add")
_MARKS = ("?", "!", ",", ".", "...", ";", ":", "?!")


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


@st.composite
def _punctuation(draw: DrawFn, prompts: SearchStrategy[str]) -> str:
    text = check_drawn("punctuation", draw(prompts))
    edit = draw(st.sampled_from(_PUNCTUATION_EDITS))
    marks = [i for i, char in enumerate(text) if _is_punctuation(char)]
    if edit != "add" and marks:
        i = draw(st.sampled_from(marks))
        return text[:i] + text[i + 1 :] if edit == "drop" else text[:i] + text[i] + text[i:]
    word_ends = [
        i
        for i in range(1, len(text) + 1)
        if text[i - 1].isalnum() and not text[i : i + 1].isalnum() and text[i : i + 1] != "'"
    ]
    i = draw(st.sampled_from(word_ends or [len(text)]))
    return text[:i] + draw(st.sampled_from(_MARKS)) + text[i:]


def punctuation(prompts: SearchStrategy[str]) -> SearchStrategy[str]:
    """Each prompt with one punctuation mark dropped, duplicated, or added after a word.

    Only Unicode punctuation (category P*) is dropped, duplicated or added, so removing all
    punctuation from the result and from the prompt gives the same text; the length always
    changes. Fallback: a prompt without punctuation gets a mark added instead (after a word,
    or at the end of a prompt without letters or digits, such as ``""``).

    Args:
        prompts: the strategy whose prompts to perturb.

    Returns:
        A strategy of re-punctuated prompts; it shrinks as ``prompts`` does, then toward
        dropping the first mark.

    Raises:
        InvalidArgument: ``prompts`` is not a strategy.
    """
    check_prompts("punctuation", prompts)
    return _punctuation(prompts)


# -- confusables ---------------------------------------------------------------------------------

# Look-alikes of Latin letters and ASCII punctuation, mostly Cyrillic and Greek: one code point
# for one code point, so lengths are kept.
_CONFUSABLES: dict[str, str] = {
    "a": "аɑ",
    "c": "сϲ",
    "d": "ԁ",
    "e": "е",
    "g": "ɡ",
    "h": "һ",
    "i": "іι",
    "j": "ј",
    "l": "ӏ",
    "n": "ո",
    "o": "оο",
    "p": "рρ",
    "q": "ԛ",
    "s": "ѕ",
    "u": "υ",
    "v": "ν",
    "w": "ԝ",
    "x": "хχ",
    "y": "у",
    "A": "АΑ",
    "B": "ВΒ",
    "C": "С",
    "E": "ЕΕ",
    "H": "НΗ",
    "I": "ІΙ",
    "J": "Ј",
    "K": "КΚ",
    "M": "МΜ",
    "N": "Ν",
    "O": "ОΟ",
    "P": "РΡ",
    "S": "Ѕ",
    "T": "ТΤ",
    "X": "ХΧ",
    "Y": "ҮΥ",
    "Z": "Ζ",
    ";": ";",
    ":": "∶",
    "-": "‐",
    "!": "ǃ",
    "?": "？",
}
_MAX_CONFUSABLES = 8


@st.composite
def _confusables(draw: DrawFn, prompts: SearchStrategy[str]) -> str:
    text = check_drawn("confusables", draw(prompts))
    candidates = [i for i, char in enumerate(text) if char in _CONFUSABLES]
    if not candidates:
        return text
    size = min(len(candidates), _MAX_CONFUSABLES)
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=size, unique=True))
    chars = list(text)
    for i in sorted(chosen):
        chars[i] = draw(st.sampled_from(_CONFUSABLES[text[i]]))
    return "".join(chars)


def confusables(prompts: SearchStrategy[str]) -> SearchStrategy[str]:
    """Each prompt with 1 to 8 characters replaced by Unicode look-alikes (homoglyphs).

    Latin letters become Cyrillic or Greek ones (``a`` → ``а`` U+0430, ``o`` → ``ο`` U+03BF)
    and a few ASCII marks their look-alikes (``;`` → ``;`` U+037E), one code point for one,
    so the result has the prompt's length and differs from it. Fallback: a prompt with no
    character that has a look-alike here (``""``, ``"42"``, ``"你好"``) comes back unchanged.

    Args:
        prompts: the strategy whose prompts to perturb.

    Returns:
        A strategy of disguised prompts; it shrinks as ``prompts`` does, then toward replacing
        only the first replaceable character by its Cyrillic look-alike.

    Raises:
        InvalidArgument: ``prompts`` is not a strategy.
    """
    check_prompts("confusables", prompts)
    return _confusables(prompts)


# -- zero-width characters -----------------------------------------------------------------------

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\ufeff")
_MAX_ZERO_WIDTH = 4


@st.composite
def _zero_width(draw: DrawFn, prompts: SearchStrategy[str]) -> str:
    text = check_drawn("zero_width", draw(prompts))
    insertion = st.tuples(st.integers(0, len(text)), st.sampled_from(ZERO_WIDTH))
    inserts = draw(st.lists(insertion, min_size=1, max_size=_MAX_ZERO_WIDTH))
    out = text
    for i, char in sorted(inserts, reverse=True):  # right to left, so positions stay valid
        out = out[:i] + char + out[i:]
    return out


def zero_width(prompts: SearchStrategy[str]) -> SearchStrategy[str]:
    """Each prompt with 1 to 4 invisible characters inserted: U+200B, U+200C, U+200D or U+FEFF.

    Removing every such character from the result gives the prompt back (when the prompt had
    none of its own). It applies to every prompt; into ``""`` it inserts invisible characters
    only.

    Args:
        prompts: the strategy whose prompts to perturb.

    Returns:
        A strategy of prompts with hidden characters; it shrinks as ``prompts`` does, then
        toward one zero-width space at the start.

    Raises:
        InvalidArgument: ``prompts`` is not a strategy.
    """
    check_prompts("zero_width", prompts)
    return _zero_width(prompts)
