"""Served models in a user's pytest run: one managed vLLM server under -n 2, no leaked API key."""

from __future__ import annotations

import os
import pathlib

import pytest
from servers.vllm_env import vllm_python

PROMPTS = [f"Q: name a colour that starts with the letter {letter}. A:" for letter in "BCGOPRTWY"]

USER_TESTS = f"""
import pytest
import pytest_bbi as bbi

PROMPTS = {PROMPTS!r}
BUDGET = bbi.Budget(queries=36, adversaries=["stylometric"])


@pytest.mark.parametrize("index", range(4))
def test_served_model_generates(teacher, student, index):
    [answer] = teacher.generate([PROMPTS[index]], [index])
    assert isinstance(answer, str)
    assert len(student.generate(PROMPTS[:2], [1, 2])) == 2


def test_teacher_against_itself(teacher, student):
    bbi.assert_indistinguishable(teacher, student, PROMPTS, budget=BUDGET, epsilon=0.3)
"""


def _ini(role_lines: str) -> str:
    return f"[pytest]\n{role_lines}\n"


def _server_events(folder: pathlib.Path) -> list[str]:
    log = folder / "servers.log"
    return log.read_text().splitlines() if log.is_file() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow  # starts real vLLM servers (about 5 minutes on 2 cores): run with --runslow
def test_vllm_spec_under_xdist_starts_one_server_and_stops_it(
    pytester, smollm2_dir, tmp_path, monkeypatch
):
    state = tmp_path / "vllm-state"
    options = (
        f"    python={vllm_python()}\n    served_model=smollm2\n    dtype=float32\n"
        "    max_model_len=2048\n    max_new_tokens=8\n"
    )
    pytester.makeini(
        _ini(
            f"bbi_teacher = vllm:{smollm2_dir}\nbbi_teacher_options =\n{options}"
            f"bbi_student = vllm:{smollm2_dir}\nbbi_student_options =\n{options}"
            "    temperature=0.9\n"
        )
    )
    pytester.makepyfile(test_served=USER_TESTS)
    monkeypatch.setenv("BBI_VLLM_STATE_DIR", str(state))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", timeout=600)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["bbi: starting the vLLM server for the teacher*"])
    events = _server_events(state)
    started = [line for line in events if " started server " in line]
    stopped = [line for line in events if " stopped server " in line]
    joined = [line for line in events if " joined server " in line]
    assert len(started) == 1, events
    assert len(stopped) == 1, events
    assert len(joined) >= 2, events  # both workers (and the student) used the same server
    server_pid = int(started[0].split("server pid=")[1].split()[0])
    assert not _alive(server_pid)
    assert not list(state.glob("*.json"))


@pytest.mark.slow  # a real vLLM server behind the proxy: run with --runslow
def test_the_api_key_reaches_the_server_and_nothing_else(pytester, fault_proxy, monkeypatch):
    secret = "sk-bbi-secret-3f9a1c77d2e84b10"
    monkeypatch.setenv("BBI_SECRET_KEY", secret)
    options = "    api_key_env=BBI_SECRET_KEY\n    max_new_tokens=8\n"
    pytester.makeini(
        _ini(
            f"bbi_teacher = openai:smollm2@{fault_proxy.base_url}\n"
            f"bbi_teacher_options =\n{options}"
            f"bbi_student = openai:smollm2@{fault_proxy.base_url}\n"
            f"bbi_student_options =\n{options}    max_new_tokens=2\n"
            "log_level = DEBUG\n"
        )
    )
    pytester.makepyfile(test_served=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "-p",
        "xdist",
        "-rA",
        "--log-level=DEBUG",
        "--junitxml=junit.xml",
        "--bbi-report=report.json",
        "--bbi-html=report.html",
        timeout=600,
    )
    result.assert_outcomes(passed=4, failed=1)  # the 2-token student is told apart
    assert any(
        record.get("authorization") == f"Bearer {secret}" for record in fault_proxy.faults.seen
    )
    output = "\n".join(result.outlines + result.errlines)
    assert "DEBUG" in output  # the client's debug logs were captured and shown
    assert secret not in output
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    assert any(path.name == "generations.sqlite3" for path in files)
    assert {"junit.xml", "report.json", "report.html"} <= {path.name for path in files}
    leaked = [path for path in files if secret.encode() in path.read_bytes()]
    assert leaked == []
