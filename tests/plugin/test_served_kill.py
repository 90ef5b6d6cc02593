"""kill -9 during a served generation, and a prompt that always fails: nothing answered is lost."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from servers.fake_openai import FakeOpenAIServer

from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.models import load

PROMPTS = [f"Prompt {index}: count to {index}." for index in range(60)]
SEEDS = list(range(60))
ALL = set(zip(PROMPTS, SEEDS, strict=True))
BROKEN = PROMPTS[-1]  # the server fails it every time: a persistent fault on 1 of 60 prompts
CONCURRENCY = 2
ROUNDS = {"serial": 5, "xdist": 3}
"""Kills per run: the xdist workers store answers as a serial run does, so fewer kills show it."""
OPTIONS = {"max_concurrency": CONCURRENCY, "max_retries": 1, "max_new_tokens": 8}

USER_TESTS = f"""
import pytest

PROMPTS = {PROMPTS!r}
SEEDS = {SEEDS!r}


@pytest.mark.parametrize("half", [0, 1])
def test_generate(teacher, half):
    part = slice(30 * half, 30 * half + 30)
    assert len(teacher.generate(PROMPTS[part], SEEDS[part])) == 30
"""


def session_environment():
    """This environment without the outer session's PYTEST_* variables (xdist worker ids)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}


def start_session(pytester, arguments):
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *arguments],
        cwd=pytester.path,
        env=session_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the xdist workers die with it
    )


def stored(pytester, identity):
    with GenerationCache(pytester.path / ".bbi_cache") as cache:
        found = cache.get_many(identity, PROMPTS, SEEDS)
    return {
        pair for pair, text in zip(zip(PROMPTS, SEEDS, strict=True), found, strict=True) if text
    }


def killed_at_random(pytester, server, rng, arguments):
    """Run the suite; SIGKILL its process group after a random number of answers, plus a bit.

    Counting answers instead of seconds keeps each round mid-generation on a loaded machine.
    """
    answers_before = len(server.answered)
    answers = rng.randint(3, 8)
    session = start_session(pytester, arguments)
    deadline = time.monotonic() + 180
    while len(server.answered) - answers_before < answers:
        assert session.poll() is None, session.communicate()[0]
        assert time.monotonic() < deadline, "the session got too few answers"
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.05))
    os.killpg(session.pid, signal.SIGKILL)
    session.communicate()
    return session.returncode


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["serial", "xdist"])
def test_kill_9_and_a_failing_prompt_lose_only_what_was_in_flight(pytester, workers):
    rounds = ROUNDS["xdist" if workers else "serial"]
    rng = random.Random(f"kill-9:{len(workers)}")
    with FakeOpenAIServer() as server:
        server.faults.delay_seconds = 0.1
        server.faults.failing_prompts = {BROKEN: 500}
        pytester.makeini(
            "[pytest]\n"
            f"bbi_teacher = openai:fake@{server.base_url}\n"
            "bbi_teacher_options =\n"
            + "".join(f"    {option}={value}\n" for option, value in OPTIONS.items())
        )
        pytester.makepyfile(test_generate=USER_TESTS)
        identity = load(f"openai:fake@{server.base_url}", **OPTIONS).identity

        answers_per_round = []
        for _ in range(rounds):
            before = stored(pytester, identity)
            requested_before = Counter(server.requests)
            answered_before = len(server.answered)
            assert killed_at_random(pytester, server, rng, workers) == -signal.SIGKILL
            after = stored(pytester, identity)
            answered = {(item.prompt, item.seed) for item in server.answered[answered_before:]}
            answers_per_round.append(len(answered))
            # Lost: answers the server sent that the cache lacks. Only the requests in flight
            # when the process died can be lost: one per request thread.
            assert len(answered - after) <= CONCURRENCY
            asked = set(Counter(server.requests) - requested_before)
            assert not asked & {prompt for prompt, _ in before}  # stored ones are never asked
        assert max(answers_per_round) > CONCURRENCY  # the kills came mid-generation
        assert 0 < len(stored(pytester, identity)) < len(ALL) - 1

        # A whole run: only the missing prompts are asked for, the broken one fails for good.
        for attempt in range(2):
            missing = {prompt for prompt, _ in ALL - stored(pytester, identity)}
            server.requests.clear()
            answered_before = len(server.answered)
            finished = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *workers],
                cwd=pytester.path,
                env=session_environment(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert finished.returncode == 1, finished.stdout + finished.stderr
            assert "1 failed, 1 passed" in finished.stdout
            assert "answered HTTP 500 after 1 retries" in finished.stdout
            expected = {prompt: 1 for prompt in missing - {BROKEN}} | {BROKEN: 2}
            assert dict(server.requests) == expected
            answered = {(item.prompt, item.seed) for item in server.answered[answered_before:]}
            assert answered <= stored(pytester, identity)
            assert stored(pytester, identity) == ALL - {(BROKEN, SEEDS[-1])}
            if attempt == 0:
                assert missing != {BROKEN}  # the kills left more than the broken one to do
