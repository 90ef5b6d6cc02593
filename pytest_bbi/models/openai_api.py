"""The ``openai:`` backend: any OpenAI-compatible server, through the official ``openai`` client."""

from __future__ import annotations

import email.utils
import errno
import hashlib
import json
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.base import AnswerCallback, hide_when_backend_error, ignore_answers
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.options import parse_bool, parse_float, parse_int

if TYPE_CHECKING:
    import openai

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
ACCEPTED_FORMS = (
    "openai:MODEL@http://HOST:PORT/v1 or openai:MODEL@https://HOST/v1 (the URL starts at the "
    "first '@' followed by http:// or https://, so a model name may itself contain '@'), or "
    f"openai:MODEL without '@' for the endpoint in ${BASE_URL_ENV}, else {DEFAULT_BASE_URL}"
)
INITIAL_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0
RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx
REDACTED = "[REDACTED]"
_NO_KEY = "no-key"  # servers without authentication accept any bearer token
_URL_START = re.compile(r"@(?=https?://)", re.IGNORECASE)
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
_jitter = random.Random()  # retry jitter only; never the global generator users seed
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


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


def _guard_library_logs() -> None:
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


def _resolve(target: str) -> tuple[str, str, str]:
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
    model, base_url, _ = _resolve(target)
    return model, base_url


def describe_endpoint(target: str) -> str:
    """Where ``openai:<target>`` sends prompts and where that came from, for the session header.

    Returns:
        E.g. ``https://api.openai.com/v1 (OpenAI's public API: …)`` or
        ``http://127.0.0.1:8000/v1 (named in the spec)``.

    Raises:
        ModelSpecError: as :func:`parse_target`.
    """
    _, base_url, origin = _resolve(target)
    return f"{base_url} {origin}"


class _Malformed(Exception):
    """A 200 answer that is not a completion; the message says what is wrong, redacted."""


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: what went wrong (redacted) and whether to try again."""

    kind: str
    retry: bool
    detail: str = ""
    status: int = 0
    retry_after: float | None = None


class OpenAIModel:
    """A model served by an OpenAI-compatible server; built by :func:`load_openai`.

    Requests run in a thread pool of ``max_concurrency``. An attempt that times out, a dropped
    connection, an answer 408/409/429/5xx and a malformed 200 answer (not JSON, an HTML page,
    an empty body, no choices, a null text or content) are retried ``max_retries`` times with
    exponential backoff and jitter (0.5 s doubling to at most 8 s, or the server's
    ``Retry-After`` up to 60 s); a request that still fails raises
    :class:`~pytest_bbi.errors.BackendError` naming the endpoint and model. A refused
    connection (nothing listening) or an unknown host before the server answered this model
    (in this process) fails at once: retrying cannot start a server. Once it has answered, a
    refusal (a restarting server) is retried like a dropped connection. Error messages, their
    causes and the HTTP libraries' log records never carry the API key (see :func:`redact`).
    Completions are requested with their seed, so a server that honours ``seed`` (vLLM,
    llama.cpp, SGLang) replays them. It is an
    :class:`~pytest_bbi.models.base.IncrementalModel`: each completion is handed over as its
    request is answered.

    Attributes:
        name: the name in reports.
        identity: a hash of the base URL, served model, revision and decoding settings.
        served_model: the model name sent to the server.
        base_url: the server's base URL, e.g. ``http://127.0.0.1:8000/v1``.
        decoding: the decoding settings.
        max_concurrency: the most requests in flight at once.
        timeout: seconds per request attempt.
        max_retries: retries per request.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        served_model: str,
        base_url: str,
        decoding: Decoding,
        name: str,
        revision: str,
        max_concurrency: int,
        max_retries: int = 5,
        identity_endpoint: str | None = None,
    ) -> None:
        self.name = name
        self.timeout = float(client.timeout) if isinstance(client.timeout, int | float) else None
        self.max_retries = max_retries
        self.served_model = served_model
        self.base_url = base_url
        self.decoding = decoding
        self.max_concurrency = max_concurrency
        endpoint = identity_endpoint or base_url
        identity_text = f"{endpoint}\0{served_model}\0{revision}\0{decoding.fingerprint()}"
        self.identity = f"openai:{hashlib.sha256(identity_text.encode()).hexdigest()}"
        self._client = client
        self._completion_log_probs: dict[tuple[str, str], float] = {}
        self._memo_lock = threading.Lock()
        self._reached = False  # whether the server has answered this model at least once

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt, one request each, ``max_concurrency`` at a time.

        Raises:
            BackendError: when a request fails after the retries.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        __tracebackhide__ = hide_when_backend_error
        return self.generate_incrementally(prompts, seeds, ignore_answers)

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Do what :meth:`generate` does, handing each completion over as its request returns.

        ``on_answered`` is called from the request threads, as soon as each answer is read
        and before that thread sends another request. After the first request that fails for
        good no new request starts; those in flight finish and are handed over, then the
        failure is raised.

        Raises:
            BackendError: when a request fails after the retries.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        __tracebackhide__ = hide_when_backend_error
        if len(prompts) != len(seeds):
            raise ValueError(f"generate got {len(prompts)} prompts but {len(seeds)} seeds.")
        answers = [""] * len(prompts)

        def answer(index: int) -> None:
            text = self._complete(prompts[index], seeds[index])
            answers[index] = text
            on_answered([index], [text])

        _run_all(answer, len(prompts), self.max_concurrency)
        return answers

    def _sampling(self, seed: int) -> dict[str, Any]:
        decoding = self.decoding
        arguments: dict[str, Any] = {
            "model": self.served_model,
            "max_tokens": decoding.max_new_tokens,
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "seed": seed % (2**31),
        }
        if decoding.top_k:
            arguments["extra_body"] = {"top_k": decoding.top_k}
        return arguments

    def _complete(self, prompt: str, seed: int) -> str:
        arguments = self._sampling(seed)
        if self.decoding.chat:
            messages: list[dict[str, str]] = []
            if self.decoding.system_prompt is not None:
                messages.append({"role": "system", "content": self.decoding.system_prompt})
            messages.append({"role": "user", "content": prompt})
            if self.decoding.samples_exactly:
                arguments["logprobs"] = True
            text, token_log_probs = self._request(
                True, {"messages": messages, **arguments}, _chat_answer
            )
        else:
            if self.decoding.samples_exactly:
                arguments["logprobs"] = 0
            text, token_log_probs = self._request(
                False, {"prompt": prompt, **arguments}, _completion_answer
            )
        if token_log_probs is not None and self.decoding.samples_exactly:
            with self._memo_lock:
                self._completion_log_probs[(prompt, text)] = float(sum(token_log_probs))
        return text

    def _request(self, chat: bool, arguments: dict[str, Any], read: Callable[[Any], _T]) -> _T:
        """Send one request, retrying as the class says; ``read`` turns the JSON into the value.

        Raises:
            BackendError: when it fails for good; the message is redacted and has no cause.
        """
        retries = 0
        while True:
            outcome = self._attempt(chat, arguments, read)
            if not isinstance(outcome, _Failure):
                return outcome[0]
            if not outcome.retry or retries >= self.max_retries:
                raise BackendError(self._explain(outcome, retries))
            time.sleep(_backoff(retries, outcome.retry_after))
            retries += 1

    def _attempt(
        self, chat: bool, arguments: dict[str, Any], read: Callable[[Any], _T]
    ) -> tuple[_T] | _Failure:
        """One attempt; every exception becomes a :class:`_Failure` (so none is chained)."""
        import openai  # loaded by now: the model holds a client

        resource: Any = self._client.chat.completions if chat else self._client.completions
        try:
            raw = resource.with_raw_response.create(**arguments)
            self._reached = True
            return (read(_payload(raw.text, raw.headers.get("content-type", ""))),)
        except _Malformed as problem:
            return _Failure("malformed", retry=True, detail=str(problem))
        except openai.APITimeoutError:
            return _Failure("timeout", retry=True)
        except openai.APIConnectionError as error:
            unreachable = _unreachable(error)
            if unreachable is not None and not self._reached:
                return _Failure("unreachable", retry=False, detail=unreachable)
            return _Failure("dropped", retry=True)
        except openai.APIStatusError as error:
            self._reached = True
            status = error.status_code
            return _Failure(
                "auth" if status in (401, 403) else "not found" if status == 404 else "status",
                retry=status in RETRIED_STATUSES or status >= 500,
                detail=_short(redact(error.message)),
                status=status,
                retry_after=_retry_after(error.response.headers),
            )
        except openai.OpenAIError as error:
            return _Failure("failed", retry=False, detail=_short(redact(str(error))))

    def _explain(self, failure: _Failure, retries: int) -> str:
        where = f"openai: the server at {self.base_url} (model {self.served_model!r})"
        if failure.kind == "timeout":
            problem = (
                f"timed out after {self.timeout}s per attempt, {retries} retries; raise the "
                "timeout option if the server is just slow"
            )
        elif failure.kind == "unreachable":
            problem = (
                f"cannot be reached: {failure.detail}; start the server, or correct the URL "
                "after '@' in the spec"
            )
        elif failure.kind == "dropped":
            problem = (
                f"refused or dropped the connection ({retries} retries); is the server running "
                "and reachable at that URL?"
            )
        elif failure.kind == "auth":
            problem = (
                f"rejected the credentials (HTTP {failure.status}); export the API key in the "
                "environment variable named by the api_key_env option"
            )
        elif failure.kind == "not found":
            problem = (
                f"answered 404 ({failure.detail}); check the model name and that the base URL "
                "ends in /v1"
            )
        elif failure.kind == "status":
            problem = f"answered HTTP {failure.status} after {retries} retries: {failure.detail}"
        elif failure.kind == "malformed":
            problem = (
                f"answered HTTP 200 with something that is not a completion, {retries} retries "
                f"({failure.detail}); is a proxy in between, or is the URL not an "
                "OpenAI-compatible /v1 endpoint?"
            )
        else:
            problem = f"failed: {failure.detail}"
        ending = "" if problem.endswith("?") else "."
        return f"{where} {problem}{ending}"

    def __repr__(self) -> str:
        return (
            f"OpenAIModel(name={self.name!r}, served_model={self.served_model!r}, "
            f"base_url={self.base_url!r}, decoding={self.decoding})"
        )


class ScoringOpenAIModel(OpenAIModel):
    """An :class:`OpenAIModel` that can also :meth:`score` completions (white-box adversaries).

    :func:`load_openai` returns this class only for the completions endpoint with untruncated
    temperature-1 sampling and ``echo_score`` left on: the server's log-probabilities are those
    of the sampling distribution only then, and the score of an arbitrary completion needs the
    ``echo`` feature with token offsets aligned to the text (vLLM's are; llama.cpp's server's
    are not, so turn ``echo_score`` off there).
    """

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Log-probability of each completion given its prompt under the sampling distribution.

        A completion this process generated is scored from the token log-probabilities the
        server returned with it; any other is scored by an ``echo`` request for prompt +
        completion, summing the log-probabilities of the tokens that start inside the
        completion (a token straddling the boundary counts with the prompt). Unlike the ``hf:``
        backend's exact score, the stop token is not included (servers do not report it), so
        white-box bounds computed from served models are approximate.

        Raises:
            BackendError: when a request fails after retries.
            ValueError: when the lengths differ.
        """
        __tracebackhide__ = hide_when_backend_error
        if len(prompts) != len(completions):
            raise ValueError(
                f"score got {len(prompts)} prompts but {len(completions)} completions."
            )
        scores = [0.0] * len(prompts)

        def score_one(index: int) -> None:
            scores[index] = self._score_one(prompts[index], completions[index])

        _run_all(score_one, len(prompts), self.max_concurrency)
        return scores

    def _score_one(self, prompt: str, completion: str) -> float:
        with self._memo_lock:
            known = self._completion_log_probs.get((prompt, completion))
        if known is not None:
            return known
        if not completion:
            return 0.0
        echoed = self._request(
            False,
            {
                "model": self.served_model,
                "prompt": prompt + completion,
                "max_tokens": 1,
                "temperature": 1.0,
                "echo": True,
                "logprobs": 0,
            },
            _echo_answer,
        )
        if echoed is None:
            raise BackendError(
                f"openai: the server at {self.base_url} answered an echo request without token "
                "offsets and log-probabilities, so it cannot score completions; set the option "
                "echo_score=false for this model."
            )
        boundary, end = len(prompt), len(prompt) + len(completion)
        return float(sum(value for offset, value in echoed if boundary <= offset < end))


def _run_all(task: Callable[[int], None], count: int, concurrency: int) -> None:
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


def _backoff(retries: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``retries + 1``."""
    if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_SECONDS:
        return retry_after
    delay = min(INITIAL_RETRY_SECONDS * 2.0**retries, MAX_RETRY_SECONDS)
    return delay * (1 - 0.25 * _jitter.random())


def _retry_after(headers: Any) -> float | None:
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


def _unreachable(error: BaseException) -> str | None:
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


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _payload(text: str, content_type: str) -> Any:
    """The JSON of a 200 answer.

    Raises:
        _Malformed: on an empty body or one that is not JSON.
    """
    if not text.strip():
        raise _Malformed("an empty body")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        html = "html" in content_type.lower() or text.lstrip().startswith("<")
        what = "an HTML page" if html else "a body that is not JSON"
        snippet = redact(" ".join(text.split()))
        raise _Malformed(
            f"{what}: {snippet if len(snippet) <= 120 else snippet[:117] + '...'}"
        ) from None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _first_choice(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _Malformed(f"the JSON is {_json_type(payload)}, not an object")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise _Malformed(f"'choices' is {_json_type(choices)}, not a list")
    if not choices:
        raise _Malformed("'choices' is empty")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _Malformed(f"choices[0] is {_json_type(choice)}, not an object")
    return choice


def _numbers(values: object) -> list[float] | None:
    """The numbers in a list of numbers and nulls; ``None`` for anything else."""
    if not isinstance(values, list) or not all(
        value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        for value in values
    ):
        return None
    return [float(value) for value in values if value is not None]


def _completion_answer(payload: Any) -> tuple[str, list[float] | None]:
    """The text of a completions answer and its token log-probabilities, if well-formed."""
    choice = _first_choice(payload)
    text = choice.get("text")
    if not isinstance(text, str):
        raise _Malformed(f"choices[0].text is {_json_type(text)}, not a string")
    logprobs = choice.get("logprobs")
    return text, _numbers(logprobs.get("token_logprobs")) if isinstance(logprobs, dict) else None


def _chat_answer(payload: Any) -> tuple[str, list[float] | None]:
    """The content of a chat answer and its token log-probabilities, if well-formed."""
    choice = _first_choice(payload)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _Malformed(f"choices[0].message is {_json_type(message)}, not an object")
    content = message.get("content")
    if not isinstance(content, str):
        raise _Malformed(f"choices[0].message.content is {_json_type(content)}, not a string")
    logprobs = choice.get("logprobs")
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(token, dict) for token in tokens):
        return content, None
    return content, _numbers([token.get("logprob") for token in tokens])


def _echo_answer(payload: Any) -> list[tuple[int, float]] | None:
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


def load_openai(
    target: str,
    *,
    name: str | None = None,
    api_key_env: str | None = None,
    revision: str = "",
    max_concurrency: int = 8,
    timeout: float = 60.0,
    max_retries: int = 5,
    echo_score: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = 32,
    chat: bool = False,
    system_prompt: str | None = None,
    identity_endpoint: str | None = None,
) -> OpenAIModel:
    """Connect to a model behind an OpenAI-compatible server (``openai:MODEL@BASE_URL``).

    The API key is read from the environment at load time and handed to the client; it never
    enters the model's identity, the cache, reports, error messages or the HTTP libraries' log
    records. Which endpoint the model uses is logged (logger ``pytest_bbi.models.openai_api``,
    level INFO) and printed in the session header for ``--bbi-*`` specs.

    Args:
        target: ``MODEL@BASE_URL`` (e.g. ``smollm@http://127.0.0.1:8000/v1``) or ``MODEL``
            with the URL from ``OPENAI_BASE_URL`` (default: the OpenAI API); see
            :func:`parse_target`.
        name: the name in reports; defaults to the served model name.
        api_key_env: the environment variable holding the API key. Defaults to
            ``OPENAI_API_KEY``; when that default is unset a placeholder is sent, which
            servers without authentication accept.
        revision: a label for the served weights, part of the identity: change it when the
            server's model changes, or the cache replays the old model's completions.
        max_concurrency: the most requests in flight, >= 1.
        timeout: seconds per request attempt, > 0.
        max_retries: retries per request on timeouts, dropped connections, 408/409/429/5xx and
            malformed 200 answers.
        echo_score: offer :meth:`ScoringOpenAIModel.score` through echo log-probabilities
            when decoding allows it; turn off for servers whose echo offsets are misaligned.
        temperature: sampling temperature; 0 is greedy.
        top_p: nucleus sampling mass.
        top_k: top-k truncation (a server extension); 0 disables it.
        max_new_tokens: the most tokens per completion.
        chat: use chat completions with the prompt as the user turn.
        system_prompt: a system turn for chat completions.
        identity_endpoint: what stands for the endpoint in the identity instead of the base
            URL; the ``vllm:`` backend passes the served weights' hash, since its port changes
            from session to session.

    Returns:
        The model (a :class:`ScoringOpenAIModel` when it can score completions).

    Raises:
        ModelSpecError: on a malformed target, an option out of range, a named API-key
            variable that is unset, or a missing ``openai`` package.
    """
    served_model, base_url, origin = _resolve(target)
    decoding = Decoding(temperature, top_p, top_k, max_new_tokens, chat, system_prompt).check(
        "openai"
    )
    max_concurrency = parse_int("max_concurrency", max_concurrency, context="openai")
    timeout = parse_float("timeout", timeout, context="openai")
    max_retries = parse_int("max_retries", max_retries, context="openai")
    echo_score = parse_bool("echo_score", echo_score, context="openai")
    problems = [
        f"{option}={value!r} ({rule})"
        for option, value, ok, rule in (
            ("max_concurrency", max_concurrency, max_concurrency >= 1, "must be >= 1"),
            ("timeout", timeout, timeout > 0, "must be > 0 seconds"),
            ("max_retries", max_retries, max_retries >= 0, "must be >= 0"),
        )
        if not ok
    ]
    if problems:
        raise ModelSpecError(f"openai: invalid options: {'; '.join(problems)}.")
    key_variable = api_key_env or DEFAULT_API_KEY_ENV
    if api_key_env is not None and not os.environ.get(key_variable):
        raise ModelSpecError(
            f"openai: the environment variable {api_key_env!r} (option api_key_env) is not "
            "set; export the API key under that name before running pytest."
        )
    try:
        import openai
    except ImportError as error:
        raise ModelSpecError(
            "openai: the backend needs the official client; `pip install 'pytest-bbi[api]'`."
        ) from error
    _guard_library_logs()
    client = _client(openai, key_variable, base_url, timeout)
    _log.info("openai: model %r is served at %s", served_model, f"{base_url} {origin}")
    model_class = (
        ScoringOpenAIModel
        if echo_score and not decoding.chat and decoding.samples_exactly
        else OpenAIModel
    )
    return model_class(
        client,
        served_model=served_model,
        base_url=base_url,
        decoding=decoding,
        name=name or served_model,
        revision=revision,
        max_concurrency=max_concurrency,
        max_retries=max_retries,
        identity_endpoint=identity_endpoint,
    )


def _client(module: Any, key_variable: str, base_url: str, timeout: float) -> openai.OpenAI:
    """The client, with the key read from the environment inside the call.

    No frame of ours holds the key in a local variable, so ``pytest -l`` cannot show it. The
    client's own retries are off: :class:`OpenAIModel` retries (malformed answers too).
    """
    if os.environ.get(key_variable):
        with _secrets_lock:
            _secrets.add(os.environ[key_variable])
    try:
        client: openai.OpenAI = module.OpenAI(
            api_key=os.environ.get(key_variable) or _NO_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
        )
    except Exception as error:
        raise ModelSpecError(
            f"openai: the client could not be created ({type(error).__name__}: "
            f"{_short(redact(str(error)))})."
        ) from None
    return client
