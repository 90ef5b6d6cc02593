"""The layout's size rules: no engine module over 500 lines, a short assert_indistinguishable.

The import rules (layers, independences, no cycles) are import-linter contracts in
pyproject.toml, checked by ``lint-imports`` in CI.
"""

import ast
import inspect
from pathlib import Path

import pytest_bbi
from pytest_bbi import assertion

PACKAGE = Path(pytest_bbi.__file__).parent
MAX_LINES = 500
DATA = {
    "strategies/_templates.py": "prompt templates (data)",
}


def test_no_engine_module_is_over_500_lines():
    long = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    over = {name: lines for name, lines in long.items() if lines > MAX_LINES and name not in DATA}
    assert not over, f"split these modules (at most {MAX_LINES} lines each): {over}"


def test_the_exemptions_are_still_needed():
    for name in DATA:
        path = PACKAGE / name
        assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES, name


def test_assert_indistinguishable_is_a_few_named_steps():
    source = inspect.getsource(assertion.assert_indistinguishable)
    assert len(source.splitlines()) <= 80
    function = ast.parse(source).body[0]
    body = function.body[1:]  # after the docstring
    calls = {
        node.func.id
        for node in ast.walk(ast.Module(body=body, type_ignores=[]))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"check_budget", "check_decision", "check_model", "set_up", "GameRun"} <= calls
    assert not any(
        isinstance(node, ast.For | ast.While) for stmt in body for node in ast.walk(stmt)
    )
