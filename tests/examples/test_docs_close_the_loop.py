"""The how-to "Close the loop" works as written: export, train with LoRA, test again.

Its code runs on the tiny models (``pytest_bbi.models.tiny``, copied from the session's builds),
in this process and on one torch thread, so the round trip takes seconds: on two busy cores a
pool of two made their generation tens of times slower, and each new process pays torch's
import.
"""

import json
import re
import runpy
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "how-to" / "close-the-loop.md"
FENCE = re.compile(r"^```python\n(?P<body>.*?)^```$", flags=re.MULTILINE | re.DOTALL)
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', flags=re.MULTILINE)
MODULES = ("models", "lora_sft")


def _files():
    """The page's Python files by name, with each snippet line replaced by the file it shows."""
    files = {}
    for match in FENCE.finditer(PAGE.read_text(encoding="utf-8")):
        body = SNIPPET.sub(lambda m: (ROOT / m["path"]).read_text(encoding="utf-8"), match["body"])
        first, _, _ = body.partition("\n")
        assert re.fullmatch(r"# [\w.]+\.py", first), first
        files[first.removeprefix("# ")] = body
    return files


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _script(path, capsys):
    """Run one of the page's scripts as ``python path`` would; return its printed lines."""
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        for name in MODULES:  # imported from the project folder; the next run reads it anew
            sys.modules.pop(name, None)
    return capsys.readouterr().out.splitlines()


def test_the_page_retrains_the_failing_student_and_its_test_then_passes(
    pytester, monkeypatch, capsys, one_thread, tiny_teacher_dir, tiny_student_dir
):
    files = _files()
    assert set(files) == {
        "models.py",
        "test_student.py",
        "read_exports.py",
        "distill.py",
        "lora_sft.py",
    }
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    for variant, built in (("teacher", tiny_teacher_dir), ("student", tiny_student_dir)):
        shutil.copytree(built, pytester.path / "tiny" / variant)  # the page's recipe, built once
    monkeypatch.chdir(pytester.path)
    monkeypatch.syspath_prepend(str(pytester.path))
    monkeypatch.delenv("STUDENT", raising=False)

    failing = pytester.runpytest("-p", "no:cacheprovider", "--bbi-export=bbi-exports")
    failing.assert_outcomes(failed=1)
    index = json.loads((pytester.path / "bbi-exports" / "index.json").read_text())
    assert [entry["passed"] for entry in index["exports"]] == [False]
    capsys.readouterr()

    bucket, weakest, pair = _script(pytester.path / "read_exports.py", capsys)
    assert bucket == "factual stylometric advantage +1.00"
    assert weakest.startswith("weakest prompt: Q: ")
    assert pair.endswith("Cheers!")
    assert _script(pytester.path / "distill.py", capsys) == ["trained on 120 answers to 40 prompts"]
    assert (pytester.path / "student-lora" / "adapter" / "adapter_model.safetensors").is_file()

    monkeypatch.setenv("STUDENT", "student-lora")
    retested = pytester.runpytest("-p", "no:cacheprovider", "--bbi-seed=1")
    retested.assert_outcomes(passed=1)
