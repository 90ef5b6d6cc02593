"""Served models in a session: the header names each endpoint; bad or dead ones stop early."""

import socket

import pytest


def test_the_header_names_the_endpoint_every_served_model_uses(pytester, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makeini(
        "[pytest]\n"
        "bbi_teacher = openai:gpt-4o\n"
        "bbi_student = openai:small@http://127.0.0.1:9/v1\n"
        "bbi_judge = python:os:getcwd\n"
    )
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "bbi: teacher openai:gpt-4o sends prompts to https://api.openai.com/v1 "
            "(OpenAI's public API: the spec names no URL and $OPENAI_BASE_URL is unset)",
            "bbi: student openai:small@http://127.0.0.1:9/v1 sends prompts to "
            "http://127.0.0.1:9/v1 (named in the spec)",
        ]
    )
    assert "bbi: judge" not in result.stdout.str()  # an in-process model has no endpoint

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:7/v1")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "bbi: teacher openai:gpt-4o sends prompts to http://127.0.0.1:7/v1 "
            "(from $OPENAI_BASE_URL)"
        ]
    )


@pytest.mark.parametrize(
    "spec",
    [
        "openai:teacher@127.0.0.1:8000/v1",
        "openai:teacher@localhost:8000",
        "openai:teacher@ ftp://127.0.0.1/v1",
    ],
)
def test_a_spec_whose_endpoint_is_not_an_http_url_stops_the_session(pytester, spec):
    pytester.makeini(f"[pytest]\nbbi_teacher = {spec}\n")
    pytester.makepyfile("def test_uses_the_teacher(teacher):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--bbi-teacher / bbi_teacher: openai: spec target * is not an http:// or https:// "
            "URL, so it names no endpoint.* Accepted forms: openai:MODEL@http://HOST:PORT/v1*"
        ]
    )


def test_a_server_that_is_not_running_fails_the_test_in_one_line(pytester):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pytester.makeini(f"[pytest]\nbbi_teacher = openai:m@http://127.0.0.1:{port}/v1\n")
    pytester.makepyfile("def test_generate(teacher):\n    teacher.generate(['hello'], [0])\n")
    result = pytester.runpytest("--tb=long")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"E *BackendError: openai: the server at http://127.0.0.1:{port}/v1 (model 'm') "
            "cannot be reached: the connection was refused, nothing is listening there; *"
        ]
    )
    output = result.stdout.str()
    # No frame of the HTTP stack, the thread pool or the plugin: the message says it all.
    for source in ("openai/", "httpx", "httpcore", "concurrent/futures", "pytest_bbi/"):
        assert source not in output
