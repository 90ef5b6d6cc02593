"""The how-to "From a failing test to the next training round" works as written."""

import json
import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "training-exports.md"
FENCE = re.compile(r"^```python\n(?P<body>.*?)^```$", flags=re.MULTILINE | re.DOTALL)


def _files():
    files = {}
    for match in FENCE.finditer(PAGE.read_text(encoding="utf-8")):
        first, _, _ = match["body"].partition("\n")
        if re.fullmatch(r"# [\w.]+\.py", first):
            files[first.removeprefix("# ")] = match["body"]
    return files


def test_the_page_exports_a_failing_test_and_reloads_its_reward_model(pytester):
    files = _files()
    assert set(files) == {
        "models.py",
        "test_student.py",
        "export_by_hand.py",
        "rank_candidates.py",
    }
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    result = pytester.runpytest_subprocess("-n", "2", "--bbi-export=bbi-exports", "test_student.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["bbi: exported 1 verdict(s) to *bbi-exports"])
    index = json.loads((pytester.path / "bbi-exports" / "index.json").read_text())
    assert [entry["passed"] for entry in index["exports"]] == [False]

    def run(script):
        return subprocess.run(
            [sys.executable, script], cwd=pytester.path, capture_output=True, text=True, check=True
        ).stdout.split()

    decision, rows, _ = run("export_by_hand.py")
    assert decision == "distinguishable"
    assert int(rows) > 64
    bucket, correct, *best = run("rank_candidates.py")
    assert bucket == "style"
    assert int(correct) > 0
    assert " ".join(best) == "The model explains the sky."
