"""The README's code runs as written: its first example test file passes as a user's project."""

import re
from pathlib import Path

README = (Path(__file__).parents[2] / "README.md").read_text()


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_first_example_runs_and_passes(pytester):
    first_example = _python_blocks()[0]
    pytester.makepyfile(test_first=first_example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["bbi: seed=0"])


def test_quick_start_commands_use_the_constraints_file():
    commands = re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)
    assert len(commands) == 2
    for command in commands:
        assert "pip install -c constraints.txt" in command
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
