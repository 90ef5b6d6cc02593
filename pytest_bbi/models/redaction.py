"""Redaction of credentials (API keys, echoed auth headers) from messages and library logs."""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[REDACTED]"


# A header value that carries a credential, however a server echoes it: `Authorization: Bearer
# sk-…`, `{'authorization': 'Bearer sk-…'}`, `"api-key": "…"`, `x-api-key=…`.
_CREDENTIAL = re.compile(
    r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?+"
    r"|\b(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?"
    r"|\bbearer\s+)"
    r"(?!\[REDACTED\])[^\s\"'`,;)\]}]+"
)


_LIBRARY_LOGGERS = ("openai", "httpx", "httpcore", "httpx2", "httpcore2")


_KNOWN_LIBRARY_LOGGERS = (
    "openai._base_client",
    "openai._response",
    "openai._legacy_response",
    *(
        f"{package}.{part}"
        for package in ("httpcore", "httpcore2")
        for part in ("connection", "http11", "http2", "proxy", "socks")
    ),
)


_secrets: set[str] = set()


_secrets_lock = threading.Lock()


def redact(text: str) -> str:
    """Remove credentials from ``text``.

    Every API key this process read for an ``openai:`` model is replaced by ``[REDACTED]``, and
    so is any value of an ``Authorization``, ``api-key`` or ``Bearer`` header quoted in it
    (servers echo request headers in error bodies).

    Args:
        text: any text bound for a message, a log record or a file.

    Returns:
        The text without them.
    """
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(lambda match: match.group(1) + REDACTED, text)


class _RedactingFilter(logging.Filter):
    """Redacts credentials from the records of the HTTP libraries (at DEBUG they log headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = _RedactingFilter()


def guard_library_logs() -> None:
    """Put the redacting filter on every logger of ``openai`` and its HTTP stack.

    A logger's filters see only the records logged on it, so each one gets the filter: those
    that exist now and those the libraries create when a module is first imported.
    """
    existing = [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.split(".")[0] in _LIBRARY_LOGGERS
    ]
    for name in {*_LIBRARY_LOGGERS, *_KNOWN_LIBRARY_LOGGERS, *existing}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def remember_secret(secret: str) -> None:
    """Add ``secret`` (an API key this process read) to what :func:`redact` removes."""
    with _secrets_lock:
        _secrets.add(secret)
