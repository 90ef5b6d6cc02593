"""The ``openai:`` wire: reading answers, classifying failures, retry timing, concurrency."""

from __future__ import annotations

import email.utils
import errno
import json
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_bbi.errors import BackendError
from pytest_bbi.models.base import hide_when_backend_error
from pytest_bbi.models.redaction import redact

_T = TypeVar("_T")

INITIAL_RETRY_SECONDS = 0.5


MAX_RETRY_SECONDS = 8.0


MAX_RETRY_AFTER_SECONDS = 60.0


RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx


_jitter = random.Random()  # retry jitter only; never the global generator users seed


class MalformedAnswer(Exception):
    """A 200 answer that is not a completion; the message says what is wrong, redacted."""


@dataclass(frozen=True)
class Failure:
    """One failed attempt: what went wrong (redacted) and whether to try again."""

    kind: str
    retry: bool
    detail: str = ""
    status: int = 0
    retry_after: float | None = None


def run_all(task: Callable[[int], None], count: int, concurrency: int) -> None:
    """Run ``task(0)`` … ``task(count - 1)`` on ``concurrency`` threads.

    After the first task that raises, no new task starts; the running ones finish, then its
    exception is raised here (a :class:`BackendError` without the request thread's frames: its
    message says everything).
    """
    __tracebackhide__ = hide_when_backend_error
    if count == 0:
        return
    pool = ThreadPoolExecutor(min(concurrency, count), thread_name_prefix="bbi-openai")
    failure: BaseException | None = None
    try:
        futures = [pool.submit(task, index) for index in range(count)]
        for future in as_completed(futures):
            failure = future.exception()
            if failure is not None:
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if isinstance(failure, BackendError):
        raise failure.with_traceback(None)
    if failure is not None:
        raise failure


def backoff(retries: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``retries + 1``."""
    if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_SECONDS:
        return retry_after
    delay = min(INITIAL_RETRY_SECONDS * 2.0**retries, MAX_RETRY_SECONDS)
    return delay * (1 - 0.25 * _jitter.random())


def retry_after(headers: Any) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``, if any."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return float(value) * scale
        except ValueError:
            pass
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return moment.timestamp() - time.time()
    return None


def unreachable_reason(error: BaseException) -> str | None:
    """Why nothing answered, when the connection could not be made at all; else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            return "the connection was refused, nothing is listening there"
        if isinstance(current, socket.gaierror):
            return "its host name does not resolve"
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def short(text: str) -> str:
    """``text`` on one line, cut to 300 characters, for a one-line message."""
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def payload(text: str, content_type: str) -> Any:
    """The JSON of a 200 answer.

    Raises:
        MalformedAnswer: on an empty body or one that is not JSON.
    """
    if not text.strip():
        raise MalformedAnswer("an empty body")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        html = "html" in content_type.lower() or text.lstrip().startswith("<")
        what = "an HTML page" if html else "a body that is not JSON"
        snippet = redact(" ".join(text.split()))
        raise MalformedAnswer(
            f"{what}: {snippet if len(snippet) <= 120 else snippet[:117] + '...'}"
        ) from None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _first_choice(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedAnswer(f"the JSON is {_json_type(payload)}, not an object")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise MalformedAnswer(f"'choices' is {_json_type(choices)}, not a list")
    if not choices:
        raise MalformedAnswer("'choices' is empty")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedAnswer(f"choices[0] is {_json_type(choice)}, not an object")
    return choice


def _numbers(values: object) -> list[float] | None:
    """The numbers in a list of numbers and nulls; ``None`` for anything else."""
    if not isinstance(values, list) or not all(
        value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        for value in values
    ):
        return None
    return [float(value) for value in values if value is not None]


def completion_answer(payload: Any) -> tuple[str, list[float] | None]:
    """The text of a completions answer and its token log-probabilities, if well-formed."""
    choice = _first_choice(payload)
    text = choice.get("text")
    if not isinstance(text, str):
        raise MalformedAnswer(f"choices[0].text is {_json_type(text)}, not a string")
    logprobs = choice.get("logprobs")
    return text, _numbers(logprobs.get("token_logprobs")) if isinstance(logprobs, dict) else None


def chat_answer(payload: Any) -> tuple[str, list[float] | None]:
    """The content of a chat answer and its token log-probabilities, if well-formed."""
    choice = _first_choice(payload)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedAnswer(f"choices[0].message is {_json_type(message)}, not an object")
    content = message.get("content")
    if not isinstance(content, str):
        raise MalformedAnswer(f"choices[0].message.content is {_json_type(content)}, not a string")
    logprobs = choice.get("logprobs")
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(token, dict) for token in tokens):
        return content, None
    return content, _numbers([token.get("logprob") for token in tokens])


def echo_answer(payload: Any) -> list[tuple[int, float]] | None:
    """(text offset, log-probability) of each echoed token; ``None`` without them."""
    logprobs = _first_choice(payload).get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not isinstance(offsets, list) or not isinstance(values, list):
        return None
    return [
        (offset, float(value))
        for offset, value in zip(offsets, values, strict=False)
        if isinstance(offset, int)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ]
