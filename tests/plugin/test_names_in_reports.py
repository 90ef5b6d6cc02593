"""Every output names the teacher, the student and the bucket; a skipped adversary is shown.

Two students over two buckets in one test (pruned and distilled, as the example suite's
``test_distillation_narrows_the_gap[factual]``), twice, on two xdist workers, with the
``likelihood`` adversary requested against models that cannot score completions.
"""

import json
import re
from pathlib import Path

import jsonschema

from pytest_bbi.report import report_schema

TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable
from scripted_models import PROMPTS, teacher_fn, tic_fn

TEACHER = from_callable(teacher_fn, name="smollm2")
PRUNED = from_callable(lambda prompt, seed: tic_fn(prompt, seed, 1.0), name="pruned")
DISTILLED = from_callable(lambda prompt, seed: teacher_fn(prompt, seed), name="distilled")
BUDGET = bbi.Budget(queries=80, adversaries=["stylometric", "likelihood"])
HALVES = {"factual": PROMPTS[:25], "code": PROMPTS[25:]}


@pytest.mark.parametrize("bucket", ["factual", "code"])
def test_distillation_narrows_the_gap(bucket):
    prompts = {bucket: HALVES[bucket], "style": HALVES[bucket][::-1]}
    with pytest.raises(bbi.Distinguishable):
        bbi.assert_indistinguishable(TEACHER, PRUNED, prompts, budget=BUDGET, epsilon=0.45)
    bbi.assert_indistinguishable(TEACHER, DISTILLED, prompts, budget=BUDGET, epsilon=0.45)
"""

REASON = (
    "teacher 'smollm2' and student '{student}' cannot score completions (no "
    "score(prompts, completions) method returning log-probabilities); white-box adversaries "
    "need both models to score"
)


def test_two_students_over_two_buckets_are_named_everywhere_under_xdist(pytester):
    scripted = (Path(__file__).parents[1] / "scripted.py").read_text()
    pytester.makepyfile(scripted_models=scripted, test_gap=TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--bbi-seed=3",
        "--bbi-report=out/report.json",
        "--bbi-html=out/report.html",
    )
    result.assert_outcomes(passed=2, warnings=2)
    output = result.stdout.str()
    lines = result.outlines

    # the terminal table: every row names the teacher, the student and the bucket
    start = next(i for i, line in enumerate(lines) if line.startswith("test "))
    assert lines[start].split()[:5] == ["test", "teacher", "student", "capability", "adversary"]
    rows = [line.split() for line in lines[start + 1 : start + 13]]
    assert all(row[0].startswith("test_gap.py::test_distillation_narrows_the_gap[") for row in rows)
    named = {(row[0].split("[")[1][:-1], row[2], row[3], row[4]) for row in rows}
    assert named == {
        (test, student, bucket, adversary)
        for test in ("factual", "code")
        for student in ("pruned", "distilled")
        for bucket, adversary in (
            (test, "stylometric"),
            ("style", "stylometric"),
            (f"{test},style", "likelihood"),
        )
    }
    assert all(row[1] == "smollm2" for row in rows)
    skipped_rows = [row for row in rows if row[4] == "likelihood"]
    assert all(row[-3:] == ["did", "not", "play"] for row in skipped_rows)
    # one decision line per verdict naming both models, and the reason for the skipped one
    for test in ("factual", "code"):
        for student in ("pruned", "distilled"):
            label = (
                f"test_gap.py::test_distillation_narrows_the_gap[{test}] "
                f"(student '{student}' vs teacher 'smollm2')"
            )
            assert (
                sum(line.startswith(f"{label}: ") and " over the " in line for line in lines) == 1
            )
            reason = REASON.format(student=student)
            assert f"{label}: adversary 'likelihood' did not play: {reason}" in lines
    assert "verdict 1 of 2" not in output

    # warned once per reason, for the whole session, though two workers met it twice each
    for student in ("pruned", "distilled"):
        warning = "BbiWarning: adversary 'likelihood' did not play in 2 verdicts ("
        reason = REASON.format(student=student)
        assert len(re.findall(re.escape(warning) + r"[^)]*\): " + re.escape(reason), output)) == 1

    # the JSON: every verdict names its models, every bucket its name, the skip its reason
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["version"] == 3
    verdicts = [verdict for test in report["tests"] for verdict in test["verdicts"]]
    assert sorted((v["teacher"], v["student"]) for v in verdicts) == [
        ("smollm2", "distilled"),
        ("smollm2", "distilled"),
        ("smollm2", "pruned"),
        ("smollm2", "pruned"),
    ]
    for verdict in verdicts:
        assert verdict["skipped"] == {"likelihood": REASON.format(student=verdict["student"])}
        assert all(name == bucket["name"] for name, bucket in verdict["buckets"].items())

    # the HTML: the matrix (students x buckets), names on every summary row, the skips
    html = (pytester.path / "out" / "report.html").read_text()
    matrix = re.search(r'<table class="matrix">.*?</table>', html, flags=re.DOTALL).group()
    assert re.findall(r'<th scope="col">(.*?)</th>', matrix) == ["code", "style", "factual"]
    assert set(re.findall(r'data-student="([^"]+)"', matrix)) == {"pruned", "distilled"}
    assert matrix.count('class="cell failing"') == 3  # pruned on code, style and factual
    summary = html[html.index('<table id="summary">') :]
    summary = summary[: summary.index("</table>")]
    rows = re.findall(r"<tr><td>.*?</tr>", summary)
    assert len(rows) == 4
    assert all("<td>smollm2</td>" in row for row in rows)
    assert sum("<td>pruned</td>" in row for row in rows) == 2
    assert sum("<td>distilled</td>" in row for row in rows) == 2
    skipped = re.search(r'<ul class="skipped">.*?</ul>', html, flags=re.DOTALL).group()
    assert skipped.count("adversary &#x27;likelihood&#x27; did not play") == 4


def test_a_warnings_filter_that_makes_the_skip_an_error_fails_the_session(pytester):
    pytester.makepyfile(
        """
        import pytest_bbi as bbi
        from pytest_bbi.models import from_callable

        TEACHER = from_callable(lambda prompt, seed: f"{prompt} is known.", name="echo")

        def test_twin():
            budget = bbi.Budget(queries=40, adversaries=["stylometric", "likelihood"])
            prompts = [f"topic {index}" for index in range(20)]
            bbi.assert_indistinguishable(TEACHER, TEACHER, prompts, budget=budget, epsilon=0.5)
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error::pytest_bbi.errors.BbiWarning"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["bbi: error (BbiWarning): adversary 'likelihood' did not play in 1 verdict (*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
