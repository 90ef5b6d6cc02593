"""The openai backend against a fault-injecting fake server: endpoints, secrets, bad answers."""

from __future__ import annotations

import logging
import socket
import time
import traceback

import pytest
from servers.fake_openai import MALFORMED_BODIES, fake_completion

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models import load, parse_spec
from pytest_bbi.models.endpoints import DEFAULT_BASE_URL, describe_endpoint
from pytest_bbi.models.redaction import redact

SECRET = "sk-bbi-faults-5c0ffee5e11ab1e"


def served(base_url, **options):
    options.setdefault("max_new_tokens", 8)
    return load(f"openai:fake@{base_url}", **options)


@pytest.fixture
def sleeps(monkeypatch):
    """Record every time.sleep instead of sleeping: retries become countable and instant."""
    recorded = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def dead_port():
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Item 2: a spec with '@' names an http(s) endpoint, or it is refused at load.


@pytest.mark.parametrize(
    "target",
    [
        "teacher@127.0.0.1:8000/v1",
        "teacher@localhost:8000",
        "teacher@ ftp://127.0.0.1/v1",
        "teacher@ftp://127.0.0.1/v1",
        "teacher@ http://127.0.0.1:8000/v1",
        "teacher@",
        "teacher@http://",
        "teacher@http://127.0.0.1:99999/v1",
        "teacher@http://127.0.0.1:8000/v1?key=1",
    ],
)
def test_a_target_with_at_that_names_no_http_url_is_refused_at_load(target):
    with pytest.raises(ModelSpecError, match=r"(?i)accepted forms") as refused:
        load(f"openai:{target}", max_retries=0)
    assert "openai:MODEL@http://HOST:PORT/v1" in str(refused.value)
    with pytest.raises(ModelSpecError):
        parse_spec(f"openai:{target}")  # what the plugin checks at session start


def test_a_url_without_a_scheme_gets_a_suggestion():
    with pytest.raises(ModelSpecError, match=r"Did you mean openai:t@http://127\.0\.0\.1:8/v1\?"):
        load("openai:t@127.0.0.1:8/v1")


def test_the_scheme_is_case_insensitive_and_a_model_name_may_contain_at():
    upper = load("openai:m@HTTP://127.0.0.1:1/v1/")
    lower = load("openai:m@http://127.0.0.1:1/v1")
    assert upper.base_url == lower.base_url == "http://127.0.0.1:1/v1"
    assert upper.identity == lower.identity
    versioned = load("openai:claude@20240620@https://127.0.0.1:1/v1")
    assert (versioned.served_model, versioned.base_url) == (
        "claude@20240620",
        "https://127.0.0.1:1/v1",
    )
    with pytest.raises(ModelSpecError, match="Accepted forms"):
        load("openai:claude@20240620")  # a name with '@' needs the URL spelled out


def test_a_target_without_url_says_which_endpoint_it_uses(monkeypatch, caplog):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert describe_endpoint("gpt-4o").startswith(f"{DEFAULT_BASE_URL} (OpenAI's public API")
    with caplog.at_level(logging.INFO, logger="pytest_bbi"):
        model = load("openai:gpt-4o")
    assert model.base_url == DEFAULT_BASE_URL
    assert f"'gpt-4o' is served at {DEFAULT_BASE_URL} (OpenAI's public API" in caplog.text

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    assert describe_endpoint("gpt-4o") == "http://127.0.0.1:9/v1 (from $OPENAI_BASE_URL)"
    assert load("openai:gpt-4o").base_url == "http://127.0.0.1:9/v1"
    assert (
        describe_endpoint("m@http://127.0.0.1:8/v1") == "http://127.0.0.1:8/v1 (named in the spec)"
    )

    monkeypatch.setenv("OPENAI_BASE_URL", "127.0.0.1:9/v1")
    with pytest.raises(ModelSpecError, match=r"in \$OPENAI_BASE_URL is not an http"):
        load("openai:gpt-4o")


# Item 3: the API key appears in no message, cause, traceback or log record.


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500, 503])
def test_an_echoed_key_is_redacted_from_errors_causes_and_debug_logs(
    fake_server, monkeypatch, caplog, status, sleeps
):
    monkeypatch.setenv("BBI_FAULTS_KEY", SECRET)
    model = served(fake_server.base_url, api_key_env="BBI_FAULTS_KEY", max_retries=1)
    fake_server.faults.echo_headers_status = status
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as failure:
        model.generate(["hello"], [0])
    assert fake_server.seen_headers[0]["authorization"] == f"Bearer {SECRET}"
    error = failure.value
    # format_exception shows the chained causes too, as pytest does.
    shown = "\n".join([str(error), repr(error), *traceback.format_exception(error), caplog.text])
    assert SECRET not in shown
    assert fake_server.base_url in str(error)
    assert "'fake'" in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    assert "x-echo-authorization" in caplog.text  # the debug logs did see the echoed headers
    assert "[REDACTED]" in caplog.text


def test_redact_removes_known_keys_and_any_credential_header_value(fake_server, monkeypatch):
    monkeypatch.setenv("BBI_FAULTS_KEY", SECRET)
    served(fake_server.base_url, api_key_env="BBI_FAULTS_KEY")
    assert redact(f"key {SECRET}!") == "key [REDACTED]!"
    assert (
        redact("{'Authorization': 'Bearer other-key'}") == "{'Authorization': 'Bearer [REDACTED]'}"
    )
    assert redact("authorization: Basic dXNlcg==") == "authorization: Basic [REDACTED]"
    assert redact('"api-key": "k-123", "x-api-key": k-456') == (
        '"api-key": "[REDACTED]", "x-api-key": [REDACTED]'
    )
    assert redact("no secret here") == "no secret here"


# Item 5: a malformed 200 answer is a transient fault: retried, then a BackendError.


@pytest.mark.parametrize("kind", sorted(MALFORMED_BODIES))
def test_a_malformed_answer_is_retried_then_fails_naming_endpoint_and_model(
    fake_server, sleeps, kind
):
    chat = kind == "content-null"
    model = served(fake_server.base_url, max_retries=2, chat=chat)
    fake_server.faults.malformed = kind
    with pytest.raises(BackendError, match="not a completion") as failure:
        model.generate(["hello"], [0])
    assert f"the server at {fake_server.base_url} (model 'fake')" in str(failure.value)
    assert "2 retries" in str(failure.value)
    assert fake_server.requests["hello"] == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("kind", ["html", "text-null", "empty", "no-choices"])
def test_a_server_that_recovers_from_malformed_answers_gives_the_right_completion(
    fake_server, sleeps, kind
):
    model = served(fake_server.base_url, max_retries=3)
    fake_server.faults.malformed, fake_server.faults.malformed_times = kind, 2
    assert model.generate(["hello"], [4]) == [fake_completion("fake", "hello", 4, 8)]
    assert fake_server.requests["hello"] == 3


def test_chat_content_null_is_an_error_not_an_empty_answer(fake_server, sleeps):
    model = served(fake_server.base_url, max_retries=0, chat=True)
    fake_server.faults.malformed = "content-null"
    with pytest.raises(BackendError, match=r"choices\[0\]\.message\.content is null"):
        model.generate(["hello"], [0])


# Item 15: nothing listening fails at once; a server that answered before is retried.


def test_a_refused_first_connection_fails_at_once_in_one_line(dead_port, sleeps):
    model = served(f"http://127.0.0.1:{dead_port}/v1", max_retries=5)
    with pytest.raises(BackendError) as failure:
        model.generate(["hello", "there"], [0, 1])
    message = str(failure.value)
    assert "\n" not in message
    assert f"http://127.0.0.1:{dead_port}/v1" in message
    assert "refused, nothing is listening there" in message
    assert sleeps == []  # no backoff: retrying cannot start a server
    assert failure.value.__cause__ is None
    assert failure.value.__context__ is None or failure.value.__suppress_context__


def test_a_server_that_stops_mid_run_is_retried_with_backoff(fake_server, sleeps):
    model = served(fake_server.base_url, max_retries=2)
    model.generate(["first"], [0])
    fake_server.close()
    with pytest.raises(BackendError, match=r"refused or dropped the connection \(2 retries\)"):
        model.generate(["second"], [0])
    assert len(sleeps) == 2


def test_dropped_connections_and_429_are_retried_honouring_retry_after(fake_server, sleeps):
    model = served(fake_server.base_url, max_retries=3)
    fake_server.faults.drop_next = 1
    assert model.generate(["a"], [1]) == [fake_completion("fake", "a", 1, 8)]
    fake_server.faults.fail_next, fake_server.faults.fail_status = 2, 429
    fake_server.faults.retry_after = "0.25"
    assert model.generate(["b"], [2]) == [fake_completion("fake", "b", 2, 8)]
    assert sleeps[1:] == [0.25, 0.25]
    assert 0.5 * 0.75 <= sleeps[0] <= 0.5


def test_a_client_error_is_not_retried(fake_server, sleeps):
    model = served(fake_server.base_url, max_retries=3)
    fake_server.faults.fail_next, fake_server.faults.fail_status = 1, 400
    with pytest.raises(BackendError, match="answered HTTP 400 after 0 retries"):
        model.generate(["a"], [1])
    assert sleeps == []
