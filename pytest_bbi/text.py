"""Text every encoder accepts: surrogate code points in a ``str`` written out as escapes."""

from __future__ import annotations

import re


def is_unicode(text: str) -> bool:
    r"""Whether ``text`` is valid Unicode, i.e. holds no surrogate code point (U+D800–U+DFFF).

    A Python ``str`` can hold a lone surrogate (``json.loads('"\\ud800"')`` makes one, and so
    can a server's JSON answer); UTF-8 codecs, tokenizers and SQLite's text type refuse it.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encodable(text: str) -> str:
    r"""``text`` itself when it is valid Unicode, else with each surrogate written as ``\udXXX``.

    The escape keeps texts with different surrogates apart (``"\ud800"`` and ``"\udfff"`` stay
    distinct), so a text-based adversary still sees the difference; it coincides only with a
    text that spells the same six characters literally. Adversaries and in-process models use
    it before handing text to a tokenizer or another encoder that needs valid Unicode.

    Args:
        text: any ``str``.

    Returns:
        Valid Unicode text.
    """
    if is_unicode(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_surrogates_escaped(json_text: str) -> str:
    r"""JSON text with each surrogate code point written as its JSON escape (``\udce9``).

    ``json.dumps(..., ensure_ascii=False)`` keeps a lone surrogate as the raw code point, which
    no UTF-8 file can hold. A surrogate can only stand inside a JSON string, where its ``\uXXXX``
    escape means the same code point, so ``json.loads`` reads the escaped text back to equal
    data; every other character is left as written.

    Args:
        json_text: text made by ``json.dumps``.

    Returns:
        The same JSON document as valid Unicode text.
    """
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)
