"""The example suite's plumbing: recipe-keyed student builds, lazy models, markers per bucket."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture
def students(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "example_students", ROOT / "example_suite" / "students.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "MODELS", tmp_path / "models")
    return module


def test_a_recipe_is_built_once_and_anew_when_it_changes(students):
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "weights.safetensors").write_text("w")

    first = students.built("student", {"layers": 24}, build)
    again = students.built("student", {"layers": 24}, build)
    changed = students.built("student", {"layers": 22}, build)
    assert len(builds) == 2
    assert first == again != changed
    assert (changed / "weights.safetensors").is_file()
    assert not first.exists(), "the folder of the earlier recipe is removed"
    assert changed.parent == students.MODELS


def test_a_failed_build_leaves_nothing_behind_and_is_retried(students):
    def broken(folder):
        (folder / "half.safetensors").write_text("half")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        students.built("student", {"layers": 24}, broken)
    assert list(students.MODELS.iterdir()) == [students.MODELS / "student.lock"]
    folder = students.built("student", {"layers": 24}, lambda f: (f / "w").write_text("w"))
    assert (folder / "w").is_file()


def test_a_lazy_model_loads_on_its_first_generation_only(students):
    from pytest_bbi.models import from_callable

    loads = []

    def load():
        loads.append(1)
        return from_callable(lambda prompt, seed: f"{prompt}:{seed}", name="inner")

    model = students.LazyModel("lazy", "identity-1", load)
    assert (model.name, model.identity, loads) == ("lazy", "identity-1", [])
    assert model.generate(["a", "b"], [1, 2]) == ["a:1", "b:2"]
    assert model.generate(["c"], [3]) == ["c:3"]
    assert loads == [1]


def test_each_bucket_test_carries_its_capability_marker():
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "example_suite", "--collect-only", "-q"),
            *("--bbi-capability", "style", "-p", "no:cacheprovider"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    selected = [line for line in result.stdout.splitlines() if "::" in line]
    assert selected == [
        "example_suite/test_behavior.py::test_the_teacher_against_itself_passes[style]",
        "example_suite/test_behavior.py::test_the_pruned_student_is_caught[style]",
        "example_suite/test_behavior.py::test_distillation_narrows_the_gap[style]",
    ]
