"""Refactor safety: run seeded suites and write their JSON reports with the timings taken out.

Runs, with a fixed seed and a fresh generation cache each:

- ``scripted`` and ``scripted-xdist``: a user project of scripted models (written out below, so
  it does not depend on the tests' layout), serial and under ``-n 2``. It covers the plugin's
  fixtures and judge, detect and certify, fixed-n and sequential games, both acquisitions, one and
  several buckets, default prompts, ini ε/α overrides, white-box scorers (certificate, likelihood,
  the certify route), a skipped adversary, the judge, calibration and fingerprints;
- ``example``: the example suite (SmolLM2 and its students; slow: build them once first).

Each report is normalized: every ``seconds`` and ``*_seconds`` field is removed (wall times), and
so is each fingerprint's ``metadata.versions`` (the Python and library versions of the machine).
Everything else is kept byte for byte, so two checkouts behave the same when ``diff -r`` of their
output folders is empty::

    python .ci/same_reports.py /tmp/before            # at the old commit
    python .ci/same_reports.py /tmp/after             # at the new one
    diff -r /tmp/before /tmp/after

The package under test is the one this interpreter imports (an editable install follows the
checkout); ``--repo`` names the checkout whose ``example_suite`` is run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

SEED = "7"

MODELS = '''
import math
import random

from pytest_bbi.adversaries.judge import JudgeAdversary
from pytest_bbi.models import from_callable

SUBJECTS = ["The model", "A student", "Our teacher", "This system", "The answer", "Each layer"]
VERBS = ["explains", "describes", "summarizes", "predicts", "computes", "outlines"]
OBJECTS = ["the capital of France", "a short poem", "the derivative of x squared",
           "why the sky is blue", "a sorting algorithm", "the history of Rome"]
ENDINGS = [".", ".", ".", " quickly.", " in detail.", " briefly."]
PROMPTS = [f"Question {index}: tell me about topic {index}." for index in range(50)]


def sentence(rng):
    return " ".join([rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]) + rng.choice(
        ENDINGS
    )


def teacher_fn(prompt, seed):
    rng = random.Random(f"{seed}:{prompt}")
    return " ".join(sentence(rng) for _ in range(rng.choice([1, 2])))


def tic_fn(prompt, seed):
    rng = random.Random(f"{seed}:{prompt}")
    text = " ".join(sentence(rng) for _ in range(rng.choice([1, 2])))
    return text + " Stay curious!" if rng.random() < 0.3 else text


def steady_fn(prompt, seed):
    return f"{prompt.split(':')[0]} is well documented."


def judge_fn(prompt, seed):
    response_a = prompt.rsplit("Response A:", 1)[-1].split("Response B:", 1)[0]
    return "B" if "curious" in response_a else random.Random(seed).choice(["A", "B", "unsure"])


class Hedging:
    """Answers like steady_fn, except on every fourth prompt, where it is unsure and says so."""

    name = "hedging"
    identity = "hedging:4"

    def _unsure(self, prompt):
        return int(prompt.split()[1].rstrip(":")) % 4 == 0

    def generate(self, prompts, seeds):
        return [f"Maybe {p.split()[1]} is about something." if self._unsure(p)
                else steady_fn(p, s) for p, s in zip(prompts, seeds)]

    def token_log_probs(self, prompts, completions):
        return [[-2.5 - 0.01 * len(c)] * len(c.split()) if c.startswith("Maybe")
                else [-0.2 - 0.001 * len(c)] * len(c.split()) for c in completions]


class Categorical:
    """A white-box model: one of four answers with fixed probabilities, scored exactly."""

    ANSWERS = ("Yes.", "No.", "Perhaps so.", "It depends on the details.")

    def __init__(self, name, weights):
        self.name = name
        self.identity = f"categorical:{name}:{weights}"
        self.weights = weights

    def generate(self, prompts, seeds):
        return [random.Random(s).choices(self.ANSWERS, self.weights)[0] for s in seeds]

    def score(self, prompts, completions):
        total = sum(self.weights)
        return [math.log(self.weights[self.ANSWERS.index(c)] / total) for c in completions]


TEACHER = from_callable(teacher_fn, name="teacher")
IDENTICAL = from_callable(teacher_fn, name="identical")
TIC = from_callable(tic_fn, name="tic")
STEADY = from_callable(steady_fn, name="steady")
JUDGE = from_callable(judge_fn, name="judge")
HEDGING = Hedging()
WHITE_TEACHER = Categorical("white-teacher", (5, 3, 1, 1))
WHITE_TWIN = Categorical("white-twin", (5, 3, 1, 1))
WHITE_SHIFTED = Categorical("white-shifted", (3, 3, 2, 2))
'''

TESTS = """
import pytest

import pytest_bbi as bbi
from pytest_bbi.adversaries.judge import JudgeAdversary
from scripted_models import (
    HEDGING, IDENTICAL, JUDGE, PROMPTS, STEADY, TEACHER, TIC, WHITE_SHIFTED, WHITE_TEACHER,
    WHITE_TWIN,
)

FAST = ["stylometric", "kernel"]


def budget(queries, adversaries=FAST, **options):
    return bbi.Budget(queries=queries, seconds=600, adversaries=adversaries, **options)


@pytest.mark.capability("style")
def test_fixtures_default_class(teacher, student):
    bbi.assert_indistinguishable(
        teacher, student, PROMPTS, budget=budget(160, adversaries=None), epsilon=0.1
    )


@pytest.mark.capability("style")
def test_tic_is_caught(teacher):
    bbi.assert_indistinguishable(teacher, TIC, PROMPTS, budget=budget(300), epsilon=0.1)


@pytest.mark.parametrize("queries", [40, 400])
def test_certify(queries):
    bbi.assert_indistinguishable(
        TEACHER, IDENTICAL, PROMPTS, budget=budget(queries), epsilon=0.3, mode="certify"
    )


@pytest.mark.parametrize("acquisition", ["stratified", "disagreement"])
@pytest.mark.parametrize("mode", ["detect", "certify"])
def test_sequential(acquisition, mode):
    bbi.assert_indistinguishable(
        TEACHER, TIC, PROMPTS,
        budget=budget(600, sequential=True, acquisition=acquisition), epsilon=0.05, mode=mode,
    )


@pytest.mark.parametrize("student", [IDENTICAL, TIC], ids=["twin", "tic"])
def test_several_buckets(student):
    prompts = {"style": PROMPTS[:20], "factual": PROMPTS[20:35], "code": PROMPTS[35:]}
    bbi.assert_indistinguishable(TEACHER, student, prompts, budget=budget(450), epsilon=0.1)


@pytest.mark.capability("math")
def test_default_prompts():
    bbi.assert_indistinguishable(TEACHER, IDENTICAL, budget=budget(60), epsilon=0.2)


@pytest.mark.capability("code")
def test_ini_overrides():
    bbi.assert_indistinguishable(TEACHER, TIC, PROMPTS, budget=budget(200), epsilon=0.1)


@pytest.mark.parametrize("mode", ["detect", "certify"])
@pytest.mark.parametrize("student", [WHITE_TWIN, WHITE_SHIFTED], ids=["twin", "shifted"])
def test_white_box(student, mode):
    bbi.assert_indistinguishable(
        WHITE_TEACHER, student, {"style": PROMPTS[:25], "factual": PROMPTS[25:]},
        budget=budget(400, adversaries=["stylometric", "likelihood"]), epsilon=0.2, mode=mode,
    )


def test_white_box_sequential_certify():
    bbi.assert_indistinguishable(
        WHITE_TEACHER, WHITE_TWIN, PROMPTS,
        budget=budget(400, adversaries=["likelihood"], sequential=True), epsilon=0.2,
        mode="certify",
    )


def test_skipped_adversary():
    bbi.assert_indistinguishable(
        TEACHER, TIC, PROMPTS, budget=budget(200, adversaries=["stylometric", "likelihood"]),
        epsilon=0.1,
    )


def test_judges():
    adversaries = ["judge", JudgeAdversary(JUDGE)]
    adversaries[1].name = "own-judge"
    bbi.assert_indistinguishable(
        TEACHER, TIC, PROMPTS, budget=budget(120, adversaries), epsilon=0.1
    )


@pytest.mark.parametrize("calibrate", [True, "exact"])
def test_calibration(calibrate):
    rule = True if calibrate is True else bbi.Calibrate(agreement=calibrate)
    prompts = {"style": PROMPTS[:25], "factual": PROMPTS[25:]}
    bbi.assert_indistinguishable(
        STEADY, HEDGING, prompts, budget=budget(200), epsilon=0.1, calibrate=rule
    )


@pytest.mark.parametrize("embeddings", [False, True])
def test_fingerprint(embeddings):
    prompts = {"style": PROMPTS[:25], "factual": PROMPTS[25:]}
    bbi.fingerprint(TIC, prompts, budget=bbi.Budget(queries=80), embeddings=embeddings)
"""

INI = """
[pytest]
bbi_teacher = python:scripted_models:TEACHER
bbi_student = python:scripted_models:IDENTICAL
bbi_judge = python:scripted_models:JUDGE
bbi_bucket_epsilon = code=0.25
bbi_bucket_alpha = code=0.01
"""


def normalized(value: Any) -> Any:
    """``value`` without wall times (``seconds``, ``*_seconds``) or fingerprint versions."""
    if isinstance(value, dict):
        kept = {
            key: normalized(item)
            for key, item in value.items()
            if key != "seconds" and not key.endswith("_seconds")
        }
        if value.get("schema") == "pytest-bbi/fingerprint":
            kept.get("metadata", {}).pop("versions", None)
        return kept
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def run(name: str, project: Path, arguments: list[str], out: Path) -> None:
    """Run pytest in the folder ``project`` with a fresh cache; write the normalized report."""
    with tempfile.TemporaryDirectory(prefix=f"bbi-{name}-cache-") as cache:
        report = out / f"{name}.raw.json"
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN",
            f"--bbi-seed={SEED}", f"--bbi-cache-dir={cache}", f"--bbi-report={report}",
            *arguments,
        ]  # fmt: skip
        environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        done = subprocess.run(command, cwd=project, env=environment, capture_output=True, text=True)
        (out / f"{name}.log").write_text(done.stdout + done.stderr)
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"{name}: exit {done.returncode}: {tail[0]}", flush=True)
        if not report.is_file():
            raise SystemExit(f"{name}: no report was written; see {out / (name + '.log')}")
        document = normalized(json.loads(report.read_text()))
        (out / f"{name}.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        report.unlink()


def main() -> None:
    """Run the chosen suites and write their normalized reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the normalized reports")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--suite", choices=["scripted", "example", "all"], default="all")
    options = parser.parse_args()
    out = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if options.suite in ("scripted", "all"):
        with tempfile.TemporaryDirectory(prefix="bbi-scripted-") as folder:
            project = Path(folder)
            (project / "scripted_models.py").write_text(textwrap.dedent(MODELS))
            (project / "test_scripted.py").write_text(textwrap.dedent(TESTS))
            (project / "pytest.ini").write_text(INI)
            run("scripted", project, [], out)
            run("scripted-xdist", project, ["-n", "2"], out)
    if options.suite in ("example", "all"):
        run("example", options.repo.resolve(), ["example_suite"], out)


if __name__ == "__main__":
    main()
