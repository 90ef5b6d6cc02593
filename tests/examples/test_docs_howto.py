"""The extension how-to guides work as written: their files, registered as shown, run in pytest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

HOWTO = Path(__file__).parents[2] / "docs" / "how-to"
FENCE = re.compile(r"^ *```python\n(?P<body>.*?)^ *```$", flags=re.MULTILINE | re.DOTALL)


def _files(page: str) -> dict[str, str]:
    """The page's python blocks that open with ``# FILENAME``, by file name."""
    files = {}
    for match in FENCE.finditer((HOWTO / page).read_text(encoding="utf-8")):
        first, _, _ = match["body"].partition("\n")
        if re.fullmatch(r"# [\w.]+\.py", first):
            files[first.removeprefix("# ")] = match["body"]
    return files


def _block_with(page: str, needle: str) -> str:
    blocks = [m["body"] for m in FENCE.finditer((HOWTO / page).read_text(encoding="utf-8"))]
    found = [block for block in blocks if needle in block]
    assert len(found) == 1, f"{page}: expected one python block with {needle!r}"
    return found[0]


ADVERSARY_TESTS = """
import pytest
import pytest_bbi as bbi
from pytest_bbi.models import from_callable


def teacher_fn(prompt, seed):
    return "Answer " + str(seed % 7) + "."


def padded_fn(prompt, seed):
    return teacher_fn(prompt, seed) + (" Indeed." if seed % 2 else "")


PROMPTS = [f"question {i}" for i in range(30)]
TEACHER = from_callable(teacher_fn, name="teacher")


def test_the_documented_budget_catches_a_longer_student():
    student = from_callable(padded_fn, name="padded")
    with pytest.raises(bbi.Distinguishable) as failure:
        bbi.assert_indistinguishable(TEACHER, student, PROMPTS, budget=BUDGET, epsilon=0.1)
    assert failure.value.verdict.adversaries["length"].rejected


def test_the_registered_name_resolves_and_passes_an_identical_student():
    student = from_callable(teacher_fn, name="same")
    budget = bbi.Budget(queries=200, adversaries=["length"])
    verdict = bbi.assert_indistinguishable(TEACHER, student, PROMPTS, budget=budget, epsilon=0.1)
    assert list(verdict.adversaries) == ["length"]
"""


def test_custom_adversary_guide(pytester: pytest.Pytester) -> None:
    page = "custom-adversary.md"
    files = _files(page)
    assert set(files) == {"length_adversary.py", "conftest.py"}
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    budget_block = _block_with(page, "BUDGET = bbi.Budget(")
    pytester.makepyfile(test_length=budget_block + ADVERSARY_TESTS)
    pytester.makeini("[pytest]\npythonpath = .\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


BACKEND_TESTS = """
import pytest_bbi as bbi
from pytest_bbi.models import known_schemes, load


def test_fixtures_load_the_documented_scheme(teacher, student):
    assert "replay" in known_schemes()
    assert teacher.name == "recorded-teacher" and student.name == "student"
    prompts = ["What is 2 + 2?", "Name a colour."]
    bbi.assert_indistinguishable(
        teacher, student, prompts, budget=bbi.Budget(queries=200, adversaries=["stylometric"]),
        epsilon=0.1,
    )


def test_load_picks_a_recorded_sample_per_seed():
    model = load("replay:teacher.jsonl")
    assert model.generate(["What is 2 + 2?"] * 2, [0, 1]) == ["4.", "It is 4."]
    assert model.identity.startswith("replay:")
"""


def test_custom_backend_guide(pytester: pytest.Pytester) -> None:
    files = _files("custom-backend.md")
    assert set(files) == {"replay_backend.py", "conftest.py"}
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    records = [
        {"prompt": "What is 2 + 2?", "completions": ["4.", "It is 4."]},
        {"prompt": "Name a colour.", "completions": ["Blue.", "Red!", "Green, say."]},
    ]
    lines = "".join(json.dumps(record) + "\n" for record in records)
    for role in ("teacher", "student"):
        (pytester.path / f"{role}.jsonl").write_text(lines, encoding="utf-8")
    pytester.makeini(
        "[pytest]\npythonpath = .\n"
        "bbi_teacher = replay:teacher.jsonl\nbbi_student = replay:student.jsonl\n"
        "bbi_teacher_options = name=recorded-teacher\n"
    )
    pytester.makepyfile(test_replay=BACKEND_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bbi-no-cache")
    result.assert_outcomes(passed=2)


def _blocks(page: str, lang: str) -> list[str]:
    fence = re.compile(
        rf"^(?P<indent> *)```{lang}\n(?P<body>.*?)^(?P=indent)```$", flags=re.MULTILINE | re.DOTALL
    )
    text = (HOWTO.parent / page).read_text(encoding="utf-8")
    return [
        re.sub(rf"(?m)^{m['indent']}", "", m["body"]) if m["indent"] else m["body"]
        for m in fence.finditer(text)
    ]


def test_production_traces_guide(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_bbi.prompts import normalize

    page = "how-to/production-traces.md"
    (traces,) = _blocks(page, "json")
    (pytester.path / "traces").mkdir()
    (pytester.path / "traces" / "sample.jsonl").write_text(traces, encoding="utf-8")
    monkeypatch.chdir(pytester.path)
    load_block, mapping_block = _blocks(page, "python")
    namespace: dict[str, object] = {}
    exec(load_block, namespace)
    assert [(p.text, p.bucket) for p in namespace["TRACES"]] == [  # type: ignore[attr-defined]
        ("How do I reset my password?", "instruction"),
        ("Translate 'thank you' into German.", "multilingual"),
        ("What is 17 * 23?", "math"),
    ]
    exec(mapping_block, namespace)
    prompts = normalize(namespace["PROMPTS"], count=5, seed=0, default_bucket=None)
    assert {p.bucket for p in prompts} == {"instruction", "math", "robustness"}
    assert [p.text for p in prompts if p.bucket == "instruction"] == ["How do I reset my password?"]
    (ini,) = _blocks(page, "ini")
    pytester.makeini(ini)
    pytester.makepyfile(
        test_bucket="""
        import pytest

        @pytest.mark.capability("billing")
        def test_custom_bucket():
            pass
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_options_reference_ini_example_is_accepted(pytester: pytest.Pytester) -> None:
    (ini,) = _blocks("reference/options.md", "ini")
    pytester.makeini(ini)
    for role in ("teacher", "student"):  # the folders the example names, as a user has them
        pytester.path.joinpath("models", role).mkdir(parents=True)
        pytester.path.joinpath("models", role, "config.json").write_text("{}")
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.capability("billing")
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["bbi: seed=0"])


SNAPSHOT_MODELS = """
from pytest_bbi.models import from_callable


def steady(prompt, seed):
    return "A calm answer to: " + prompt


student = from_callable(steady, name="steady")
"""


def test_snapshot_guide_workflow(pytester: pytest.Pytester) -> None:
    page = "how-to/snapshots.md"
    (test_block,) = _blocks(page, "python")
    pytester.makepyfile(test_approved=test_block, my_models=SNAPSHOT_MODELS)
    pytester.makeini(
        "[pytest]\npythonpath = .\n"
        "bbi_teacher = python:my_models:student\nbbi_student = python:my_models:student\n"
    )
    text = (HOWTO / "snapshots.md").read_text(encoding="utf-8")
    missing_message = re.search(r"`(Snapshot '[^`]+' does not\s+exist!)`", text)
    assert missing_message is not None
    update = _blocks(page, "bash")
    assert [block.strip() for block in update] == ["pytest --snapshot-update"]

    first = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    first.assert_outcomes(failed=2)
    first.stdout.fnmatch_lines([f"*{' '.join(missing_message[1].split())}*"])
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--snapshot-update").assert_outcomes(
        passed=2
    )
    stored = (
        pytester.path / "__snapshots__" / "test_approved" / "test_student_behaves_as_approved.json"
    )
    assert stored.is_file(), "the guide says where the snapshot is written"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bbi-seed=3").assert_outcomes(
        passed=2
    )


def test_fallback_threshold_guide(pytester: pytest.Pytester) -> None:
    files = _files("fallback-threshold.md")
    assert set(files) == {"test_fallback.py"}
    pytester.makepyfile(test_fallback=files["test_fallback.py"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bbi-no-cache", "-s")
    result.assert_outcomes(passed=1)
    [documented] = _blocks("how-to/fallback-threshold.md", "text")
    result.stdout.fnmatch_lines(["*fall back to the teacher below -0.10*", documented.strip()])
