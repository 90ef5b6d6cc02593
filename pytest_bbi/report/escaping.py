"""Text for HTML: everything escaped, hidden and reordering code points shown by name."""

from __future__ import annotations

import html
import unicodedata

# Code points that would be invisible, or would reorder the text around them, are shown by name.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_KEPT_CONTROLS = frozenset("\n\t")


def escape_text(value: object, limit: int | None = None) -> str:
    """Escape text for HTML, showing hidden and reordering code points as ``U+XXXX`` badges.

    Args:
        value: the text (anything else is turned into text first).
        limit: the most characters shown; longer text ends with an ellipsis.

    Returns:
        HTML that displays the text as written, with nothing in it that the browser interprets.
    """
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    parts: list[str] = []
    for char in text:
        if char not in _KEPT_CONTROLS and unicodedata.category(char) in _HIDDEN_CATEGORIES:
            parts.append(f'<span class="cp">U+{ord(char):04X}</span>')
        else:
            parts.append(html.escape(char))
    return "".join(parts)


def escape_attr(value: object) -> str:
    """Escape a value for a double-quoted attribute, replacing code points HTML cannot carry."""
    text = "".join(
        "\ufffd" if unicodedata.category(char) in {"Cs", "Cc"} else char for char in str(value)
    )
    return html.escape(text, quote=True)
