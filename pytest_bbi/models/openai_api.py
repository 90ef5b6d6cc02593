"""The ``openai:`` backend: any OpenAI-compatible server, through the official ``openai`` client."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.options import parse_bool, parse_float, parse_int

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_TARGET = re.compile(r"(?P<model>.*?)@(?P<base_url>https?://\S+)")
_NO_KEY = "no-key"  # servers without authentication accept any bearer token


def parse_target(target: str) -> tuple[str, str]:
    """Split ``<model>@<base_url>`` (the part of an ``openai:`` spec after the scheme).

    Without ``@http…`` the base URL comes from ``OPENAI_BASE_URL``, else the OpenAI API.

    Returns:
        The served model name and the base URL without a trailing slash.

    Raises:
        ModelSpecError: when the model name is empty or the URL carries credentials.
    """
    match = _TARGET.fullmatch(target.strip())
    if match:
        model, base_url = match.group("model"), match.group("base_url")
    else:
        model, base_url = target.strip(), os.environ.get("OPENAI_BASE_URL", DEFAULT_BASE_URL)
    if not model:
        raise ModelSpecError(
            f"openai: spec target {target!r} names no model; write openai:MODEL@BASE_URL, "
            "e.g. openai:my-model@http://127.0.0.1:8000/v1."
        )
    if re.match(r"https?://[^/]*@", base_url):
        raise ModelSpecError(
            "openai: the base URL carries credentials (user:password@host); put the secret in "
            "an environment variable and name it with the api_key_env option instead."
        )
    return model, base_url.rstrip("/")


class OpenAIModel:
    """A model served by an OpenAI-compatible server; built by :func:`load_openai`.

    Requests run in a thread pool of ``max_concurrency``; the client retries 408/409/429/5xx
    answers, timeouts and connection errors ``max_retries`` times with exponential backoff
    (honouring ``Retry-After``), and a request that still fails raises
    :class:`~pytest_bbi.errors.BackendError` naming the endpoint. Completions are requested
    with their seed, so a server that honours ``seed`` (vLLM, llama.cpp, SGLang) replays them.

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
        identity_endpoint: str | None = None,
    ) -> None:
        self.name = name
        self.timeout = float(client.timeout) if isinstance(client.timeout, int | float) else None
        self.max_retries = client.max_retries
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

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt, one request each, ``max_concurrency`` at a time.

        Raises:
            BackendError: when a request fails after the client's retries.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"generate got {len(prompts)} prompts but {len(seeds)} seeds.")
        if not prompts:
            return []
        with ThreadPoolExecutor(min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(self._complete, prompts, seeds))

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
        with _server_errors(self):
            if self.decoding.chat:
                messages: list[ChatCompletionMessageParam] = []
                if self.decoding.system_prompt is not None:
                    messages.append({"role": "system", "content": self.decoding.system_prompt})
                messages.append({"role": "user", "content": prompt})
                if self.decoding.samples_exactly:
                    arguments["logprobs"] = True
                chat = self._client.chat.completions.create(messages=messages, **arguments)
                choice = chat.choices[0]
                text = choice.message.content or ""
                token_log_probs = (
                    [token.logprob for token in choice.logprobs.content or ()]
                    if choice.logprobs is not None
                    else None
                )
            else:
                if self.decoding.samples_exactly:
                    arguments["logprobs"] = 0
                answer = self._client.completions.create(prompt=prompt, **arguments)
                completion = answer.choices[0]
                text = completion.text
                token_log_probs = (
                    [
                        value
                        for value in completion.logprobs.token_logprobs or ()
                        if value is not None
                    ]
                    if completion.logprobs is not None
                    else None
                )
        if token_log_probs is not None and self.decoding.samples_exactly:
            with self._memo_lock:
                self._completion_log_probs[(prompt, text)] = float(sum(token_log_probs))
        return text

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
        if len(prompts) != len(completions):
            raise ValueError(
                f"score got {len(prompts)} prompts but {len(completions)} completions."
            )
        if not prompts:
            return []
        with ThreadPoolExecutor(min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(self._score_one, prompts, completions))

    def _score_one(self, prompt: str, completion: str) -> float:
        with self._memo_lock:
            known = self._completion_log_probs.get((prompt, completion))
        if known is not None:
            return known
        if not completion:
            return 0.0
        with _server_errors(self):
            answer = self._client.completions.create(
                model=self.served_model,
                prompt=prompt + completion,
                max_tokens=1,
                temperature=1.0,
                echo=True,
                logprobs=0,
            )
        log_probs = answer.choices[0].logprobs
        if log_probs is None or log_probs.text_offset is None or log_probs.token_logprobs is None:
            raise BackendError(
                f"openai: the server at {self.base_url} answered an echo request without token "
                "offsets and log-probabilities, so it cannot score completions; set the option "
                "echo_score=false for this model."
            )
        boundary, end = len(prompt), len(prompt) + len(completion)
        return float(
            sum(
                value
                for offset, value in zip(
                    log_probs.text_offset, log_probs.token_logprobs, strict=False
                )
                if value is not None and boundary <= offset < end
            )
        )


@contextlib.contextmanager
def _server_errors(model: OpenAIModel) -> Iterator[None]:
    """Turn the client's exceptions into a :class:`BackendError` that names the endpoint."""
    import openai  # loaded by now: the model holds a client

    try:
        yield
    except openai.OpenAIError as error:
        where = f"{model.base_url} (model {model.served_model!r})"
        if isinstance(error, openai.APITimeoutError):
            problem = (
                f"timed out after {model.timeout}s per attempt, {model.max_retries} retries; "
                "raise the timeout option if the server is just slow"
            )
        elif isinstance(error, openai.APIConnectionError):
            problem = (
                f"refused or dropped the connection ({model.max_retries} retries); is the "
                "server running and reachable at that URL?"
            )
        elif isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            problem = (
                f"rejected the credentials (HTTP {error.status_code}); export the API key in "
                "the environment variable named by the api_key_env option"
            )
        elif isinstance(error, openai.NotFoundError):
            problem = (
                f"answered 404 ({_short(error)}); check the model name and that the base URL "
                "ends in /v1"
            )
        elif isinstance(error, openai.APIStatusError):
            problem = (
                f"answered HTTP {error.status_code} after {model.max_retries} retries: "
                f"{_short(error)}"
            )
        else:
            problem = f"failed: {_short(error)}"
        ending = "" if problem.endswith("?") else "."
        raise BackendError(f"openai: the server at {where} {problem}{ending}") from error


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


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
    enters the model's identity, the cache, reports or error messages.

    Args:
        target: ``MODEL@BASE_URL`` (e.g. ``smollm@http://127.0.0.1:8000/v1``) or ``MODEL``
            with the URL from ``OPENAI_BASE_URL`` (default: the OpenAI API).
        name: the name in reports; defaults to the served model name.
        api_key_env: the environment variable holding the API key. Defaults to
            ``OPENAI_API_KEY``; when that default is unset a placeholder is sent, which
            servers without authentication accept.
        revision: a label for the served weights, part of the identity: change it when the
            server's model changes, or the cache replays the old model's completions.
        max_concurrency: the most requests in flight, >= 1.
        timeout: seconds per request attempt, > 0.
        max_retries: retries per request on 408/409/429/5xx, timeouts and connection errors.
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
    served_model, base_url = parse_target(target)
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
    api_key = os.environ.get(key_variable)
    if not api_key:
        if api_key_env is not None:
            raise ModelSpecError(
                f"openai: the environment variable {api_key_env!r} (option api_key_env) is not "
                "set; export the API key under that name before running pytest."
            )
        api_key = _NO_KEY
    try:
        import openai
    except ImportError as error:
        raise ModelSpecError(
            "openai: the backend needs the official client; `pip install 'pytest-bbi[api]'`."
        ) from error
    client = openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )
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
        identity_endpoint=identity_endpoint,
    )
