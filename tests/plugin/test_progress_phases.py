"""No phase over 10 s passes without a progress line: one slow phase of every kind, serial and
under ``-n 2``, printed once by the controller.

Time runs 100 times faster in the user project: its conftest compresses the clock that every
progress record and the watcher read, in the controller and in each worker alike, and records
every phase that ends with how long it ran by that clock. Each kind of phase lasts more than
10 s of that time: a GGUF conversion (its slow step faked), a student built through the public
``pytest_bbi.progress.phase``, a managed vLLM server's start (a fake server that answers after
a while), generation, the finetuned adversary's training, and ``assert_agree``'s Hypothesis
search and shrinking.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

SPEED = 100

CONFTEST = f"""
import json
import os
import time
from pathlib import Path

import pytest_bbi.progress as progress

ANCHOR = 1_700_000_000.0
LOG = Path(__file__).parent / "phases"
LOG.mkdir(exist_ok=True)
progress._now = lambda: ANCHOR + (time.time() - ANCHOR) * {SPEED}
_finish = progress.Phase.finish


def finish(self, failed=False):
    if self._path is not None or not progress.reporting():
        seconds = progress._now() - self._started
        with (LOG / f"{{os.getpid()}}.jsonl").open("a") as log:
            log.write(json.dumps({{"name": self.name, "seconds": seconds}}) + "\\n")
    _finish(self, failed)


progress.Phase.finish = finish
"""

MODELS = """
import time
from pytest_bbi.models import from_callable


def slow(prompt, seed):
    time.sleep(0.005)
    return prompt.upper()


def upper(prompt, seed):
    time.sleep(0.005)
    return prompt.upper()


def digits(prompt, seed):
    time.sleep(0.005)
    return prompt.upper() + (" 42" if any(c.isdigit() for c in prompt) else "")


teacher = from_callable(slow, name="slow-teacher")
"""

FAKE_VLLM = r"""
import argparse, json, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--served-model-name", nargs="+")
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args, _ = parser.parse_known_args()
time.sleep(0.3)  # loading the model


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        names = [{"id": name} for name in args.served_model_name]
        body = json.dumps({"data": names}).encode() if self.path == "/v1/models" else b""
        self.send_response(200 if self.path in ("/health", "/v1/models") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
"""

PHASES = """
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

import pytest_bbi as bbi
from pytest_bbi.progress import phase
from models import digits, upper
from pytest_bbi.models import from_callable


def test_a_gguf_conversion(tmp_path, monkeypatch):
    from pytest_bbi.models import gguf

    def slow_conversion(source, folder, step):
        for _ in range(4):
            time.sleep(0.04)
            step()
        (folder / "config.json").write_text("{}")

    monkeypatch.setattr(gguf, "_convert_into", slow_conversion)
    checkpoint = tmp_path / "model.gguf"
    checkpoint.write_bytes(b"GGUF" * 1000)
    assert (gguf.convert_gguf(checkpoint, cache_root=tmp_path / "models") / "config.json").exists()


def test_building_a_student_with_the_public_phase_api():
    with phase("building the pruned student", total=30, unit="layers") as building:
        for _ in range(30):
            time.sleep(0.005)
            building.advance()


def test_a_managed_server_start(tmp_path):
    from pytest_bbi.models import vllm_server

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    config = vllm_server.ServerConfig(str(model), "smollm2", sys.executable, (), 60.0)
    lease = vllm_server.ManagedServer(config)
    try:
        assert lease.acquire().startswith("http://127.0.0.1:")
    finally:
        lease.release()


def test_generation(teacher):
    prompts = [f"prompt {index}" for index in range(60)]
    assert len(teacher.generate(prompts, list(range(60)))) == 60


def test_adversary_training():
    from pytest_bbi.adversaries import Deadline, LabeledPair, Trial
    from pytest_bbi.adversaries.finetuned import FinetunedAdversary

    train = [
        LabeledPair(f"question {i}", f"The answer is {i}.", f"Answer: {i}!") for i in range(12)
    ]
    trials = [Trial("question 99", "The answer is 99.", "Answer: 99!")]
    adversary = FinetunedAdversary(epochs=10, batch_size=4)  # 30 steps: over 10 s of test time
    assert len(adversary.decide(train, trials, Deadline(None))) == 1


@settings(database=None, max_examples=100, deadline=None, derandomize=True)
@given(prompt=st.text(alphabet="ab", max_size=8))
def test_an_agree_search(prompt):
    bbi.assert_agree(
        from_callable(upper, name="teacher"), from_callable(upper, name="twin"), prompt,
        greedy=False,
    )


@settings(database=None, max_examples=60, deadline=None, derandomize=True)
@given(prompt=st.text(alphabet="ab1", max_size=8))
def test_an_agree_search_that_shrinks(prompt):
    bbi.assert_agree(
        from_callable(upper, name="teacher"), from_callable(digits, name="digits"), prompt,
        greedy=False,
    )
"""

KINDS = {
    "converting model.gguf to safetensors": "conversion",
    "building the pruned student": "student building (public API)",
    "starting the vLLM server for smollm2": "managed server start",
    "generating slow-teacher": "generation",
    "training the finetuned adversary": "adversary training",
    "assert_agree: searching test_an_agree_search for a disagreement": "search",
    "assert_agree: shrinking the disagreement in test_an_agree_search_that_shrinks": "shrinking",
}


@pytest.mark.skipif(sys.platform != "linux", reason="the fake vLLM server needs Linux processes")
@pytest.mark.parametrize("workers", [[], ["-n", "2", "-p", "xdist"]], ids=["serial", "-n 2"])
def test_no_phase_over_ten_seconds_passes_without_a_progress_line(pytester, monkeypatch, workers):
    fake = pytester.path / "fake"
    package = fake / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    (package / "api_server.py").write_text(FAKE_VLLM)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("BBI_VLLM_STATE_DIR", str(pytester.path / "vllm-state"))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(models=MODELS, test_phases=PHASES)
    pytester.makeini("[pytest]\nbbi_teacher = python:models:teacher\n")
    result = pytester.runpytest_subprocess(*workers, "--bbi-progress=on", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1)  # the shrunk disagreement is the one failure
    lines = [line for line in result.outlines if line.startswith("bbi: ") and ": " in line[5:]]
    phases = [
        json.loads(record)
        for log in (pytester.path / "phases").glob("*.jsonl")
        for record in log.read_text().splitlines()
    ]
    slow = [record for record in phases if record["seconds"] > 10]
    assert set(KINDS) <= {record["name"] for record in slow}, (phases, result.outlines)
    for record in slow:  # every slow phase, whatever its kind, has a line
        assert any(line.startswith(f"bbi: {record['name']}: ") for line in lines), (
            record,
            lines,
        )
    for name in {record["name"] for record in slow}:  # the controller prints each ending once
        endings = [line for line in lines if line.startswith(f"bbi: {name}: ") and _ended(line)]
        assert len(endings) == sum(record["name"] == name for record in slow), (name, lines)
    generated = next(line for line in lines if line.startswith("bbi: generating slow-teacher: "))
    assert re.search(r"\d+/60 completions", generated), generated  # a count against the total
    assert re.search(r"completions/s", generated), generated  # and a rate


def _ended(line: str) -> bool:
    return bool(re.search(r": (\d+(/\d+)? \S+ in |done in |stopped after )", line))
