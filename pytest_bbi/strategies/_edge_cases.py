"""``edge_cases``: prompts that stress tokenizers and text handling rather than capabilities."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from pytest_bbi.strategies._vocabulary import CITIES, TOPICS

WHITESPACE_CHARS = " \t\n\r\u00a0\u2003\u3000"

EMOJI: tuple[str, ...] = (
    "😀",
    "🔥",
    "👍",
    "🎉",
    "🤖",
    "❤️",
    "🌍",
    "👍🏽",
    "👩‍💻",
    "👨‍👩‍👧",
    "🇯🇵",
    "🏳️‍🌈",
    "🙏",
    "✨",
)

EMOJI_MIXED: tuple[str, ...] = (
    "hi {emoji}",
    "Tell me about {topic} {emoji}{emoji}",
    "{emoji} What should I see in {city}? {emoji}",
    "I love {topic}{emoji} do you?",
    "{emoji}{emoji}{emoji} explain {topic} {emoji}",
)

MIXED_SCRIPTS: tuple[str, ...] = (
    "Hello мир",
    "Hello мир, 世界 and مرحبا",
    "Tokyo 東京 Tōkyō とうきょう",
    "My password is пароль123",
    "Translate Ελληνικά to English",
    "नमस्ते means hello",
    "price: 100 ₹ or ١٠٠ درهم",
    "Straße vs STRASSE vs strasse",
    "Is 서울 the capital of 한국?",
    "ｆｕｌｌｗｉｄｔｈ and halfwidth ｶﾀｶﾅ",
)

RIGHT_TO_LEFT: tuple[str, ...] = (
    "مرحبا",
    "مرحبا بالعالم",
    "שלום עולם",
    "ما هي عاصمة مصر؟",
    "מה השעה?",
    "\u200fمرحبا بالعالم\u200f",
    "The word \u200eשלום\u200e means peace.",
    "Reply to: \u200fما اسمك؟\u200f",
    "abc \u202eتجربة\u202c def",
    "user\u202egnp.exe",
    "العدد 42 هو الجواب",
    "\u2067שלום\u2069 is Hebrew",
)

LONG_WORDS: tuple[str, ...] = (
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschiffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "supercalifragilisticexpialidocious",
    "https://example.com/a/very/long/path/that/never/seems/to/end/index.html?q=",
    "Mississippi",
)

CONTROL_CHARACTERS: tuple[str, ...] = (
    "name\tage\tcity",
    "first line\rsecond line",
    "tab\tinside\ta sentence",
    "vertical\x0btab and form\x0cfeed",
    "a bell\x07 rings",
    "delete\x7f me",
    "\tindented question?",
    "escape \x1b[31mred\x1b[0m text",
    "unit\x1fseparator",
)

COMBINING: tuple[str, ...] = (
    "e\u0301",
    "Cafe\u0301 vs Café",
    "n\u0303o",
    "Z\u0351\u0364\u036b\u0313a\u0310\u0350\u0358l\u0314\u0346g\u0351\u0304o\u0363\u0352",
    "a\u0308\u0304\u0323",
    "\u1100\u1161\u11a8 (decomposed Hangul)",
    "क्\u200dष",
    "o\u0336v\u0336e\u0336r\u0336 struck out",
)

ODD_UNICODE: tuple[str, ...] = (
    "\ufffd",
    "\ufeffBOM at the start",
    "soft\u00adhyphen",
    "𝐁𝐨𝐥𝐝 𝓼𝓬𝓻𝓲𝓹𝓽 𝔉𝔯𝔞𝔨𝔱𝔲𝔯",
    "ﬁnance ﬂow",
    "Ⅻ ½ ² ℃ №",
    "private use \ue000\uf8ff",
    "plane 15 \U000f0000 and 16 \U0010fffd",
    "line\u2028separator and paragraph\u2029separator",
    "object \ufffc replacement",
    "ancient 𓀀𓁐 and 𐎀",
    "variation ☺\ufe0f vs ☺\ufe0e",
    "noncharacters \ufdd0 \uffff",
)


def _repeated(word: str, times: int) -> str:
    return word * times


def _with_emoji(template: str, emoji: str, topic: str, city: str) -> str:
    return template.format(emoji=emoji, topic=topic, city=city)


def edge_cases() -> SearchStrategy[str]:
    """Prompts at the edges of text handling, not of any capability.

    One of: the empty string; whitespace only (spaces, tabs, newlines, no-break and
    ideographic spaces); emoji only, or mixed into a short prompt (with skin tones, ZWJ
    sequences and flags); mixed scripts; right-to-left Arabic and Hebrew, with and without
    RLM/LRM marks and bidi overrides; very long words (up to thousands of characters without
    a space); control characters such as tab, carriage return, bell and escape; combining
    characters (decomposed accents, "Zalgo" stacks); and odd but valid Unicode (BOM, soft
    hyphen, mathematical letters, private use, astral planes, noncharacters). Every string is
    free of lone surrogates, so it encodes to UTF-8. There are no arguments, so nothing can
    be invalid.

    Shrinks toward ``""``, then toward the first example of each kind.

    Returns:
        A strategy of edge-case prompts.
    """
    return st.one_of(
        st.just(""),
        st.text(alphabet=WHITESPACE_CHARS, min_size=1, max_size=12),
        st.lists(st.sampled_from(EMOJI), min_size=1, max_size=6).map("".join),
        st.builds(
            _with_emoji,
            st.sampled_from(EMOJI_MIXED),
            st.sampled_from(EMOJI),
            st.sampled_from(TOPICS),
            st.sampled_from(CITIES),
        ),
        st.sampled_from(MIXED_SCRIPTS),
        st.sampled_from(RIGHT_TO_LEFT),
        st.builds(_repeated, st.sampled_from(LONG_WORDS), st.integers(1, 60)),
        st.sampled_from(CONTROL_CHARACTERS),
        st.sampled_from(COMBINING),
        st.sampled_from(ODD_UNICODE),
    )
