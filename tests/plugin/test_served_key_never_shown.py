"""The API key in no output and no file, against a server that echoes request headers back."""

import secrets

import pytest
from servers.fake_openai import FakeOpenAIServer

ECHOES = {"echo 400": 400, "echo 401": 401, "echo 403": 403, "echo 404": 404, "echo 500": 500}

USER_TESTS = f"""
import pytest
import pytest_bbi as bbi

PROMPTS = [f"Question {{index}}: tell me about topic {{index}}." for index in range(12)]
BUDGET = bbi.Budget(queries=24, adversaries=["stylometric"])


def test_a_game_against_the_server_passes(teacher, student):
    bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=0.5)


@pytest.mark.parametrize("prompt", {sorted(ECHOES)!r})
def test_an_error_that_echoes_the_headers(teacher, prompt):
    teacher.generate([prompt], [0])


def test_a_game_that_meets_an_echoing_error(teacher, student):
    bbi.assert_indistinguishable(
        teacher, student, ["echo 401", "echo 500"], budget=BUDGET, epsilon=0.5
    )
"""


@pytest.fixture
def echoing_server():
    with FakeOpenAIServer() as server:
        server.faults.echo_prompts = dict(ECHOES)
        yield server


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["serial", "xdist"])
def test_no_output_and_no_file_holds_the_key(pytester, echoing_server, monkeypatch, workers):
    key = f"sk-bbi-{secrets.token_hex(16)}"
    monkeypatch.setenv("BBI_LEAK_KEY", key)
    options = "".join(
        f"    {option}\n"
        for option in ("api_key_env=BBI_LEAK_KEY", "max_retries=1", "max_new_tokens=8")
    )  # the fake server has no echo log-probabilities: the game plays black-box
    options += "    echo_score=false\n"
    pytester.makeini(
        "[pytest]\n"
        f"bbi_teacher = openai:fake@{echoing_server.base_url}\n"
        f"bbi_teacher_options =\n{options}"
        f"bbi_student = openai:fake@{echoing_server.base_url}\n"
        f"bbi_student_options =\n{options}    revision=the-same-server\n"
        "log_cli = true\nlog_cli_level = DEBUG\n"
        "log_file = logs/debug.log\nlog_file_level = DEBUG\n"
        "junit_logging = all\n"
    )
    pytester.makepyfile(test_served=USER_TESTS)
    result = pytester.runpytest_subprocess(
        *workers,
        "-vv",
        "-l",
        "--tb=long",
        "-rA",
        "--log-level=DEBUG",
        "--junitxml=junit.xml",
        "--bbi-report=report.json",
        "--bbi-html=report.html",
        timeout=300,
    )
    result.assert_outcomes(passed=1, failed=len(ECHOES) + 1)
    output = "\n".join(result.outlines + result.errlines)
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"junit.xml", "report.json", "report.html", "debug.log", "generations.sqlite3"} <= names
    # Nothing holds the key, nor a tail of it that a truncated message could have kept.
    for fragment in (key, key[-16:]):
        assert fragment not in output
        assert [path.name for path in files if fragment.encode() in path.read_bytes()] == []
    # And not for want of trying: the server saw the key and echoed it, the session saw the
    # echo (redacted) in messages and in the HTTP libraries' DEBUG records.
    assert {headers.get("authorization") for headers in echoing_server.seen_headers} == {
        f"Bearer {key}"
    }
    assert "authorization: Bearer [REDACTED]" in output
    assert "(b'x-echo-authorization', b'Bearer [REDACTED]')" in output
