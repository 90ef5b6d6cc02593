"""Where an ``openai:`` spec sends prompts: parsing ``MODEL@URL`` and naming the endpoint."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from pytest_bbi.errors import ModelSpecError

BASE_URL_ENV = "OPENAI_BASE_URL"


DEFAULT_BASE_URL = "https://api.openai.com/v1"


ACCEPTED_FORMS = (
    "openai:MODEL@http://HOST:PORT/v1 or openai:MODEL@https://HOST/v1 (the URL starts at the "
    "first '@' followed by http:// or https://, so a model name may itself contain '@'), or "
    f"openai:MODEL without '@' for the endpoint in ${BASE_URL_ENV}, else {DEFAULT_BASE_URL}"
)


_URL_START = re.compile(r"@(?=https?://)", re.IGNORECASE)


def _check_url(url: str, where: str) -> str:
    """Validate an endpoint URL; return it with a lower-case scheme and no trailing slash.

    Args:
        url: the URL.
        where: where it came from, for the message (``in the spec``, ``in $OPENAI_BASE_URL``).
    """
    parts = urlsplit(url)
    problem = None
    if any(character.isspace() or not character.isprintable() for character in url):
        problem = "contains spaces or control characters"
    elif parts.scheme.lower() not in ("http", "https") or not url[len(parts.scheme) :].startswith(
        "://"
    ):
        problem = "is not an http:// or https:// URL"
    elif parts.username is not None or parts.password is not None:
        raise ModelSpecError(
            f"openai: the base URL {where} carries credentials (user:password@host); put the "
            "secret in an environment variable and name it with the api_key_env option instead."
        )
    elif not parts.hostname:
        problem = "names no host"
    elif parts.query or parts.fragment:
        problem = "has a query or fragment; give the base URL only, e.g. http://HOST:PORT/v1"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
        except ValueError:
            problem = "has an invalid port"
    if problem is not None:
        raise ModelSpecError(
            f"openai: the endpoint {url!r} {where} {problem}; accepted forms: {ACCEPTED_FORMS}."
        )
    return (parts.scheme.lower() + url[len(parts.scheme) :]).rstrip("/")


def resolve(target: str) -> tuple[str, str, str]:
    """Parse a target into (served model, base URL, where the URL came from, in words)."""
    text = target.strip()
    start = _URL_START.search(text)
    if start is not None:
        model, url = text[: start.start()], text[start.end() :]
        where, origin = "in the spec", "(named in the spec)"
    elif "@" in text:
        model, _, after = text.rpartition("@")
        hint = (
            f" Did you mean openai:{model or 'MODEL'}@http://{after}?"
            if after and "://" not in after and not after[0].isspace()
            else ""
        )
        raise ModelSpecError(
            f"openai: spec target {target!r} has '@' but {after!r} after it is not an http:// or "
            f"https:// URL, so it names no endpoint.{hint} Accepted forms: {ACCEPTED_FORMS}."
        )
    elif os.environ.get(BASE_URL_ENV, "").strip():
        model, url = text, os.environ[BASE_URL_ENV].strip()
        where, origin = f"in ${BASE_URL_ENV}", f"(from ${BASE_URL_ENV})"
    else:
        model, url = text, DEFAULT_BASE_URL
        where = origin = (
            f"(OpenAI's public API: the spec names no URL and ${BASE_URL_ENV} is unset)"
        )
    if not model:
        raise ModelSpecError(
            f"openai: spec target {target!r} names no model; write openai:MODEL@BASE_URL, "
            "e.g. openai:my-model@http://127.0.0.1:8000/v1."
        )
    return model, _check_url(url, where), origin


def parse_target(target: str) -> tuple[str, str]:
    """Split ``<model>@<base_url>`` (the part of an ``openai:`` spec after the scheme).

    The URL starts at the first ``@`` followed by ``http://`` or ``https://`` (the scheme in
    any case), so a model name may contain ``@``. A target with ``@`` but no such URL is an
    error, never a model name: ``m@127.0.0.1:8000/v1`` would otherwise send prompts and the
    API key to the default endpoint. Without ``@`` the base URL comes from
    ``OPENAI_BASE_URL``, else the OpenAI API (see :func:`describe_endpoint`).

    Returns:
        The served model name and the base URL, its scheme in lower case, without a trailing
        slash.

    Raises:
        ModelSpecError: when the model name is empty, or the URL is not an http(s) URL with a
            host, or carries credentials, a query or a fragment; the message lists the accepted
            forms.
    """
    model, base_url, _ = resolve(target)
    return model, base_url


def describe_endpoint(target: str) -> str:
    """Where ``openai:<target>`` sends prompts and where that came from, for the session header.

    Returns:
        E.g. ``https://api.openai.com/v1 (OpenAI's public API: …)`` or
        ``http://127.0.0.1:8000/v1 (named in the spec)``.

    Raises:
        ModelSpecError: as :func:`parse_target`.
    """
    _, base_url, origin = resolve(target)
    return f"{base_url} {origin}"
