"""The bring-your-own-model how-to works as written, through the public API only.

Its ``students.py``, ``pytest.ini`` and ``test_students.py`` make a user project. The files may
import only public modules of pytest-bbi (checked by reading their imports: the module must be
public and every imported name in its ``__all__``, and no ``_private`` attribute is touched).
The project builds an int8 student in memory with ``from_transformers`` and
``recipes.int8_dynamic`` and plays the game with it; a rerun generates nothing (every completion
comes from the generation cache) and ends the same. The teacher is the tiny test model (with a
chat template, as the page's SmolLM2 has) instead of SmolLM2, so the test takes seconds.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "own-model.md"
FENCE = re.compile(r"^```(?P<lang>\w+)\n(?P<body>.*?)^```$", flags=re.MULTILINE | re.DOTALL)
PUBLIC = {
    "pytest_bbi",
    "pytest_bbi.adversaries",
    "pytest_bbi.fingerprints",
    "pytest_bbi.models",
    "pytest_bbi.models.recipes",
    "pytest_bbi.progress",
    "pytest_bbi.prompts",
    "pytest_bbi.strategies",
}
TEMPLATE = (
    "{% for message in messages %}<{{ message['role'] }}>{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)
COUNTER = """
import os

from pytest_bbi.models.hf import HFModel

_generate = HFModel.generate_incrementally


def counted(self, prompts, seeds, on_answered):
    with open(os.environ["BBI_GENERATION_LOG"], "a") as log:
        log.write(f"{self.name} {len(prompts)}\\n")
    return _generate(self, prompts, seeds, on_answered)


HFModel.generate_incrementally = counted
"""


def _files() -> dict[str, str]:
    files = {}
    for match in FENCE.finditer(PAGE.read_text(encoding="utf-8")):
        first, _, _ = match["body"].partition("\n")
        if match["lang"] in ("python", "ini") and re.fullmatch(r"# [\w.]+\.(py|ini)", first):
            files[first.removeprefix("# ")] = match["body"]
    return files


def private_uses(source: str) -> list[str]:
    """What a source file reaches of pytest-bbi beyond its public API."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            problems += [
                alias.name
                for alias in node.names
                if alias.name.startswith("pytest_bbi") and alias.name not in PUBLIC
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytest_bbi"):
            if node.module not in PUBLIC:
                problems.append(str(node.module))
                continue
            exported = getattr(importlib.import_module(str(node.module)), "__all__", ())
            problems += [
                f"{node.module}.{alias.name}" for alias in node.names if alias.name not in exported
            ]
        elif isinstance(node, ast.Attribute) and re.match(r"_(?!_)", node.attr):
            problems.append(node.attr)
    return problems


def test_the_import_check_catches_private_names():
    assert private_uses("from pytest_bbi.models.hf import HFModel") == ["pytest_bbi.models.hf"]
    assert private_uses("from pytest_bbi.models import load_hf") == ["pytest_bbi.models.load_hf"]
    assert private_uses("import pytest_bbi.generation.cache") == ["pytest_bbi.generation.cache"]
    assert private_uses("import pytest_bbi as bbi\nbbi._version") == ["_version"]
    assert private_uses("from pytest_bbi.models import from_transformers, recipes") == []


def test_an_in_memory_student_plays_the_game_cached_through_the_public_api(
    pytester, monkeypatch, tiny_teacher_dir
):
    files = _files()
    assert set(files) == {"students.py", "pytest.ini", "test_students.py"}
    for name in ("students.py", "test_students.py"):
        assert private_uses(files[name]) == [], name
    teacher = pytester.path / "teacher-model"
    shutil.copytree(tiny_teacher_dir, teacher)
    settings = teacher / "tokenizer_config.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "chat_template": TEMPLATE}))
    students = files["students.py"]
    for line, replacement in (
        ("TEACHER_DIR = convert_gguf(", f"TEACHER_DIR = {str(teacher)!r}"),
        ("DROPPED = range(16, 22)", "DROPPED = [1]"),
    ):
        [found] = [text for text in students.splitlines() if text.startswith(line)]
        students = students.replace(found, replacement)
    pytester.makepyfile(students=students, test_students=files["test_students.py"])
    (pytester.path / "pytest.ini").write_text(files["pytest.ini"])
    (pytester.path / "count_generations.py").write_text(COUNTER)
    log = pytester.path / "generations.log"
    monkeypatch.setenv("BBI_GENERATION_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))

    cold = pytester.runpytest_subprocess("-p", "count_generations", "-p", "no:cacheprovider")
    outcomes = cold.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2, cold.outlines
    assert "Distinguishable" in cold.stdout.str() or outcomes.get("passed") == 2
    generated = log.read_text().split()
    assert {"teacher", "int8"} <= set(generated[::2]), generated
    log.unlink()

    warm = pytester.runpytest_subprocess("-p", "count_generations", "-p", "no:cacheprovider")
    assert warm.parseoutcomes() == outcomes
    assert not log.exists(), log.read_text()  # every completion came from the cache
