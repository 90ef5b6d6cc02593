"""Decoding settings shared by the backends: validation and the canonical text in identities."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.options import parse_bool, parse_float, parse_int


@dataclass(frozen=True)
class Decoding:
    """How a backend decodes; part of the model's identity, so a change invalidates the cache.

    Attributes:
        temperature: sampling temperature, >= 0; 0 decodes greedily and ignores seeds.
        top_p: nucleus mass in (0, 1]; 1 keeps every token.
        top_k: number of most likely tokens kept, >= 0; 0 keeps every token.
        max_new_tokens: the most tokens generated per completion, >= 1.
        chat: present each prompt as a user turn (through the chat template, or the chat
            endpoint of a server) instead of as raw text.
        system_prompt: a system turn put before the user turn; needs ``chat``.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 32
    chat: bool = False
    system_prompt: str | None = None

    def check(self, backend: str) -> Decoding:
        """Return the settings parsed strictly, once every setting is in range.

        Numbers may be given as text (``"0.7"``, as an ini file spells them) and ``chat`` as
        any spelling :func:`~pytest_bbi.options.parse_bool` accepts; anything else is an error,
        never a silent conversion.

        Args:
            backend: the backend's scheme, for the message (e.g. ``"hf"``).

        Returns:
            Equal settings with ``temperature``/``top_p`` as floats, ``top_k``/``max_new_tokens``
            as ints and ``chat`` as a bool.

        Raises:
            ModelSpecError: naming the setting that is not of its type, or every setting out of
                range and its rule.
        """
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ModelSpecError(
                f"{backend}: system_prompt={self.system_prompt!r} must be text (a str) or None."
            )
        parsed = Decoding(
            temperature=parse_float("temperature", self.temperature, context=backend),
            top_p=parse_float("top_p", self.top_p, context=backend),
            top_k=parse_int("top_k", self.top_k, context=backend),
            max_new_tokens=parse_int("max_new_tokens", self.max_new_tokens, context=backend),
            chat=parse_bool("chat", self.chat, context=backend),
            system_prompt=self.system_prompt,
        )
        problems = [
            f"{option}={value!r} ({rule})"
            for option, value, ok, rule in (
                ("temperature", parsed.temperature, parsed.temperature >= 0, "must be >= 0"),
                ("top_p", parsed.top_p, 0 < parsed.top_p <= 1, "must be in (0, 1]"),
                ("top_k", parsed.top_k, parsed.top_k >= 0, "must be >= 0; 0 keeps every token"),
                (
                    "max_new_tokens",
                    parsed.max_new_tokens,
                    parsed.max_new_tokens >= 1,
                    "must be >= 1",
                ),
                (
                    "system_prompt",
                    parsed.system_prompt,
                    parsed.system_prompt is None or parsed.chat,
                    "needs chat=True, since only a chat turn structure has a system turn",
                ),
            )
            if not ok
        ]
        if problems:
            raise ModelSpecError(f"{backend}: invalid decoding options: {'; '.join(problems)}.")
        return parsed

    @property
    def samples_exactly(self) -> bool:
        """Whether completions come from the untruncated temperature-1 distribution."""
        return self.temperature == 1 and self.top_p == 1 and self.top_k == 0

    def fingerprint(self) -> str:
        """A canonical text of the settings, the same for ``temperature=1`` and ``1.0``."""
        return (
            f"temperature={float(self.temperature)!r} top_p={float(self.top_p)!r} "
            f"top_k={int(self.top_k)} max_new_tokens={int(self.max_new_tokens)} "
            f"chat={bool(self.chat)} system_prompt={self.system_prompt!r}"
        )
