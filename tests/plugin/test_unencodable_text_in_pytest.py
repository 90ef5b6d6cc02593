"""Lone surrogates in prompts, completions and model names: through xdist and into every report."""

import json
import xml.etree.ElementTree as ET

import pytest

SURROGATE_TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable

PROMPTS = [f"question {index} \\udcff" for index in range(30)]


def teacher_fn(prompt, seed):
    return f"answer {seed % 3} caf\\udce9"


def tic_fn(prompt, seed):
    return f"answer {seed % 3} caf\\udce9 \\ud800 tic"


teacher = from_callable(teacher_fn, name="teacher \\udce9")
same = from_callable(teacher_fn, name="student \\udce9")
tic = from_callable(tic_fn, name="tic \\ud800")
BUDGET = bbi.Budget(queries=60, adversaries=["stylometric"])


def test_same_answers_pass():
    bbi.assert_indistinguishable(teacher, same, PROMPTS, budget=BUDGET, epsilon=0.3)


def test_a_surrogate_tic_fails():
    bbi.assert_indistinguishable(teacher, tic, PROMPTS, budget=BUDGET, epsilon=0.1)


def test_a_fingerprint_is_recorded():
    bbi.fingerprint(tic, PROMPTS, budget=BUDGET, embeddings=False)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_text_that_is_not_unicode_reaches_every_report(pytester, workers):
    pytester.makepyfile(test_surrogates=SURROGATE_TESTS)
    result = pytester.runpytest_subprocess(
        *workers,
        "-p",
        "no:cacheprovider",
        "--bbi-no-cache",
        "--bbi-report=report.json",
        "--bbi-html=report.html",
        "--junitxml=junit.xml",
    )
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    result.assert_outcomes(passed=2, failed=1)
    # The failure message names the student, its surrogate written as an escape.
    result.stdout.fnmatch_lines(["*student 'tic \\ud800' is distinguishable*"])

    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    tests = {entry["nodeid"].rpartition("::")[2]: entry for entry in report["tests"]}
    example = tests["test_a_surrogate_tic_fails"]["verdicts"][0]["adversaries"]["stylometric"][
        "examples"
    ][0]
    # JSON escapes read back to the very text the models answered.
    assert example["prompt"].endswith(" \udcff")
    assert example["teacher"].endswith(" caf\udce9")
    assert example["student"].endswith(" caf\udce9 \ud800 tic")
    assert tests["test_a_fingerprint_is_recorded"]["fingerprints"][0]["metadata"]["model"] == (
        "tic \ud800"
    )
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert '<span class="cp">U+DCE9</span>' in html

    properties = {
        case.get("name"): json.loads(prop.get("value"))
        for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
        for prop in case.iter("property")
    }
    assert properties["test_a_fingerprint_is_recorded"]["metadata"]["model"] == "tic \ud800"
