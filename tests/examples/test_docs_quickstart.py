"""The quick start runs as written: its files make a project, its commands run it, its output holds.

Every fenced ``python`` and ``ini`` block of docs/quickstart.md opens with ``# FILENAME`` and is
written to that file; every ``bash`` block is either the install command (which CI runs
verbatim) or a pytest invocation, which runs against those files; the ``text`` block after it
is the output it must print, timings aside.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
FENCE = re.compile(r"^```(?P<lang>[\w-]+)\n(?P<body>.*?)^```$", flags=re.MULTILINE | re.DOTALL)
INSTALL = 'python -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[dev]"'
# What may differ between machines in the shown output: timings, rule widths, cut-off lines.
VARIABLE = re.compile(r"\s*\d+\.\d+s|\s+\d+\.\d+$|={3,}|_{3,}|\.\.\.$")


def _blocks() -> list[tuple[str, str]]:
    return [(m["lang"], m["body"]) for m in FENCE.finditer(QUICKSTART.read_text(encoding="utf-8"))]


def _file_blocks() -> dict[str, str]:
    files: dict[str, str] = {}
    for lang, body in _blocks():
        if lang in ("python", "ini"):
            first, _, _ = body.partition("\n")
            assert re.fullmatch(r"# [\w.]+", first), (
                f"a {lang} block of the quick start must open with '# FILENAME', not {first!r}"
            )
            files[first.removeprefix("# ")] = body
    return files


def _command_and_output() -> tuple[list[str], str]:
    blocks = _blocks()
    runs = [
        (index, body.strip())
        for index, (lang, body) in enumerate(blocks)
        if lang == "bash" and body.strip().startswith("pytest")
    ]
    assert len(runs) == 1, "the quick start should run pytest exactly once"
    index, command = runs[0]
    lang, output = blocks[index + 1]
    assert lang == "text", "the pytest command must be followed by its output in a text block"
    return shlex.split(command)[1:], output


def _pattern(line: str) -> str:
    """An fnmatch pattern for one shown output line: literal, with wildcards where it varies."""
    literal = [re.sub(r"([\[\]*?])", r"[\1]", part) for part in VARIABLE.split(line)]
    return "*".join(literal)


def test_every_block_is_a_file_or_a_command() -> None:
    langs = {lang for lang, _ in _blocks()}
    assert langs <= {"python", "ini", "bash", "text"}, f"unexpected block languages {langs}"
    files = _file_blocks()
    assert {"my_models.py", "test_capitals.py", "pytest.ini"} <= set(files)
    commands = [body.strip() for lang, body in _blocks() if lang == "bash"]
    installs = [command for command in commands if not command.startswith("pytest")]
    assert installs == [INSTALL]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert INSTALL in ci, "CI must run the quick start's install command verbatim"


def test_quick_start_runs_and_prints_what_it_shows(pytester: pytest.Pytester) -> None:
    for name, body in _file_blocks().items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    args, shown = _command_and_output()

    result = pytester.runpytest_subprocess(*args)

    counts = re.search(r"(\d+) failed, (\d+) passed", shown)
    assert counts is not None, "the shown output must end with the outcome counts"
    result.assert_outcomes(failed=int(counts[1]), passed=int(counts[2]))
    patterns = [_pattern(line) for line in shown.splitlines() if line.strip() != "..."]
    result.stdout.fnmatch_lines(patterns)
    html = args[args.index("--bbi-html") + 1]
    assert "<svg" in (pytester.path / html).read_text(encoding="utf-8")


def test_output_patterns_are_not_vacuous() -> None:
    _, shown = _command_and_output()
    patterns = [_pattern(line) for line in shown.splitlines() if line.strip() != "..."]
    assert len(patterns) >= 20
    assert _pattern("E         style  stylometric  +0.467  [+0.310, +0.604]  1.2s  x") == (
        "E         style  stylometric  +0.467  [[]+0.310, +0.604[]]*  x"
    )
    assert _pattern("=== 1 failed in 2.50s ===") == "* 1 failed in* *"
    assert _pattern("FAILED t.py::test_x - pytest_bb...") == "FAILED t.py::test_x - pytest_bb*"
