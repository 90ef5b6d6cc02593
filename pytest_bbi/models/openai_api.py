"""The ``openai:`` backend: any OpenAI-compatible server, through the official ``openai`` client."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.base import AnswerCallback, hide_when_backend_error, ignore_answers
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.models.endpoints import (
    resolve,
)
from pytest_bbi.models.openai_wire import (
    RETRIED_STATUSES,
    Failure,
    MalformedAnswer,
    backoff,
    chat_answer,
    completion_answer,
    echo_answer,
    payload,
    retry_after,
    run_all,
    short,
    unreachable_reason,
)
from pytest_bbi.models.redaction import guard_library_logs, redact, remember_secret
from pytest_bbi.options import parse_bool, parse_float, parse_int
from pytest_bbi.text import encodable

if TYPE_CHECKING:
    import openai

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
_NO_KEY = "no-key"  # servers without authentication accept any bearer token
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


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
        self._revision = revision
        self._identity_endpoint = identity_endpoint
        endpoint = identity_endpoint or base_url
        identity_text = f"{endpoint}\0{served_model}\0{revision}\0{decoding.fingerprint()}"
        self.identity = f"openai:{hashlib.sha256(identity_text.encode()).hexdigest()}"
        self._client = client
        self._completion_log_probs: dict[tuple[str, str], float] = {}
        self._memo_lock = threading.Lock()
        self._reached = False  # whether the server has answered this model at least once

    def greedy(self) -> OpenAIModel:
        """This model asked for greedy completions (``temperature=0``), through the same client."""
        if self.decoding.temperature == 0:
            return self
        return OpenAIModel(
            self._client,
            served_model=self.served_model,
            base_url=self.base_url,
            decoding=replace(self.decoding, temperature=0.0),
            name=self.name,
            revision=self._revision,
            max_concurrency=self.max_concurrency,
            max_retries=self.max_retries,
            identity_endpoint=self._identity_endpoint,
        )

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

        run_all(answer, len(prompts), self.max_concurrency)
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
        r"""One completion; text that is not valid Unicode is sent with ``\udXXX`` escapes.

        A JSON body is UTF-8, which cannot carry a lone surrogate, so each one is written as its
        escape (:func:`pytest_bbi.text.encodable`), as the ``hf:`` backend does for its
        tokenizer; the cache still keys the completion by the prompt as given.
        """
        arguments = self._sampling(seed)
        sent = encodable(prompt)
        if self.decoding.chat:
            messages: list[dict[str, str]] = []
            if self.decoding.system_prompt is not None:
                system = encodable(self.decoding.system_prompt)
                messages.append({"role": "system", "content": system})
            messages.append({"role": "user", "content": sent})
            if self.decoding.samples_exactly:
                arguments["logprobs"] = True
            text, token_log_probs = self._request(
                True, {"messages": messages, **arguments}, chat_answer
            )
        else:
            if self.decoding.samples_exactly:
                arguments["logprobs"] = 0
            text, token_log_probs = self._request(
                False, {"prompt": sent, **arguments}, completion_answer
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
            if not isinstance(outcome, Failure):
                return outcome[0]
            if not outcome.retry or retries >= self.max_retries:
                raise BackendError(self._explain(outcome, retries))
            time.sleep(backoff(retries, outcome.retry_after))
            retries += 1

    def _attempt(
        self, chat: bool, arguments: dict[str, Any], read: Callable[[Any], _T]
    ) -> tuple[_T] | Failure:
        """One attempt; every exception becomes a :class:`Failure` (so none is chained)."""
        import openai  # loaded by now: the model holds a client

        resource: Any = self._client.chat.completions if chat else self._client.completions
        try:
            raw = resource.with_raw_response.create(**arguments)
            self._reached = True
            return (read(payload(raw.text, raw.headers.get("content-type", ""))),)
        except MalformedAnswer as problem:
            return Failure("malformed", retry=True, detail=str(problem))
        except openai.APITimeoutError:
            return Failure("timeout", retry=True)
        except openai.APIConnectionError as error:
            unreachable = unreachable_reason(error)
            if unreachable is not None and not self._reached:
                return Failure("unreachable", retry=False, detail=unreachable)
            return Failure("dropped", retry=True)
        except openai.APIStatusError as error:
            self._reached = True
            status = error.status_code
            return Failure(
                "auth" if status in (401, 403) else "not found" if status == 404 else "status",
                retry=status in RETRIED_STATUSES or status >= 500,
                detail=short(redact(error.message)),
                status=status,
                retry_after=retry_after(error.response.headers),
            )
        except openai.OpenAIError as error:
            return Failure("failed", retry=False, detail=short(redact(str(error))))

    def _explain(self, failure: Failure, retries: int) -> str:
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

        run_all(score_one, len(prompts), self.max_concurrency)
        return scores

    def _score_one(self, prompt: str, completion: str) -> float:
        with self._memo_lock:
            known = self._completion_log_probs.get((prompt, completion))
        if known is not None:
            return known
        if not completion:
            return 0.0
        sent_prompt, sent_completion = encodable(prompt), encodable(completion)
        echoed = self._request(
            False,
            {
                "model": self.served_model,
                "prompt": sent_prompt + sent_completion,
                "max_tokens": 1,
                "temperature": 1.0,
                "echo": True,
                "logprobs": 0,
            },
            echo_answer,
        )
        if echoed is None:
            raise BackendError(
                f"openai: the server at {self.base_url} answered an echo request without token "
                "offsets and log-probabilities, so it cannot score completions; set the option "
                "echo_score=false for this model."
            )
        boundary = len(sent_prompt)
        end = boundary + len(sent_completion)
        return float(sum(value for offset, value in echoed if boundary <= offset < end))


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
    served_model, base_url, origin = resolve(target)
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
    guard_library_logs()
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
        remember_secret(os.environ[key_variable])
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
            f"{short(redact(str(error)))})."
        ) from None
    return client
