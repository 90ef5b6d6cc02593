"""The how-to "Search for the prompts that give a student away" works as written."""

import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "search.md"
FENCE = re.compile(r"^```python\n(?P<body>.*?)^```$", flags=re.MULTILINE | re.DOTALL)


def _files():
    files = {}
    for match in FENCE.finditer(PAGE.read_text(encoding="utf-8")):
        first, _, _ = match["body"].partition("\n")
        files[first.removeprefix("# ")] = match["body"]
    return files


def test_the_page_finds_the_planted_weakness_and_its_test_fails_on_it(pytester):
    files = _files()
    assert set(files) == {"search_example.py", "test_search_example.py"}
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    printed = subprocess.run(
        [sys.executable, "search_example.py"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    decision, searched, confirmed = printed[0].split()
    assert decision == "distinguishable"
    assert int(searched) + int(confirmed) == 600
    found = [line.split(" ", 2)[2] for line in printed[1:]]
    assert len(found) == 4
    assert all(any(int(n) >= 970 for n in re.findall(r"\d+", prompt)) for prompt in found)
    pytester.runpytest_subprocess("test_search_example.py").assert_outcomes(passed=1)
