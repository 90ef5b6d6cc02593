"""Options from ini options blocks are parsed strictly: a false spelling never runs remote code."""

from __future__ import annotations

import pytest
from planted import planted_model

ONE_TEST_PER_ROLE = """
def test_teacher(teacher):
    pass


def test_student(student):
    pass


def test_judge(judge):
    pass
"""


def _run(pytester, options):
    """One session whose three roles load the planted folder with the given option lines."""
    folder, marker = planted_model(pytester.path / "planted-model")
    ini = ["[pytest]"]
    for role, line in options.items():
        ini += [f"bbi_{role} = hf:{folder}", f"bbi_{role}_options =", f"    {line}"]
    pytester.makeini("\n".join(ini) + "\n")
    pytester.makepyfile(test_roles=ONE_TEST_PER_ROLE)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bbi-no-cache"), marker


def test_false_spellings_in_the_ini_never_run_the_folders_code(pytester):
    result, marker = _run(
        pytester,
        {
            "teacher": "trust_remote_code = no",
            "student": "trust_remote_code = false",
            "judge": "trust_remote_code = off",
        },
    )
    result.assert_outcomes(errors=3)
    assert sum("needs custom model code" in line for line in result.stdout.lines) >= 3
    assert not marker.exists()


def test_zero_refuses(pytester):
    result, marker = _run(pytester, {"teacher": "trust_remote_code = 0"})
    result.assert_outcomes(errors=3)  # the student and judge are not configured
    result.stdout.fnmatch_lines(["*needs custom model code*trust_remote_code=True*"])
    assert not marker.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("trust_remote_code = maybe", "hf: trust_remote_code='maybe' is not a boolean*"),
        ("temperature = hot", "hf: temperature='hot' is not a number*"),
    ],
)
def test_unclear_values_are_usage_errors_at_startup(pytester, line, message):
    result, marker = _run(pytester, {"student": line})
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: ini bbi_student_options: {message}"])
    assert not marker.exists()
