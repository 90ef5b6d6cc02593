"""xdist sizing and generation progress as a user sees them in the terminal."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

SLOW_MODELS = """
import time
from pytest_bbi.models import from_callable


def _slow(prompts, seeds):
    time.sleep(0.04 * len(prompts))
    return [f"{prompt} / {seed % 7}" for prompt, seed in zip(prompts, seeds)]


teacher = from_callable(_slow, name="slow-teacher", batched=True)
"""

PROMPT_TESTS = """
import pytest

PROMPTS = [f"prompt {index}" for index in range(200)]


@pytest.mark.parametrize("copy", range(2))
def test_generate(teacher, copy):
    assert len(teacher.generate(PROMPTS, list(range(200)))) == 200
"""


def test_long_generation_prints_progress_once_under_xdist(pytester):
    pytester.makepyfile(slow_models=SLOW_MODELS, test_progress=PROMPT_TESTS)
    pytester.makeini("[pytest]\nbbi_teacher = python:slow_models:teacher\n")
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--bbi-progress=on")
    result.assert_outcomes(passed=2)
    final = [line for line in result.outlines if "slow-teacher: 200/200 completions" in line]
    assert len(final) == 1, result.outlines
    assert any("slow-teacher: " in line and "/200 completions" in line for line in result.outlines)
    warm = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--bbi-progress=on")
    warm.assert_outcomes(passed=2)
    assert not any("bbi: generating" in line for line in warm.outlines)


OWN_FIXTURE = """
from pathlib import Path

import pytest
from slow_models import teacher as slow_teacher

from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.progress import ProgressFile


@pytest.fixture(scope="session")
def teacher(bbi_cache):
    progress = ProgressFile(Path(bbi_cache.path).parent / "progress", "own")
    return CachedModel(slow_teacher, bbi_cache, progress=progress)
"""


def test_a_suite_with_its_own_cached_fixtures_shows_progress_too(pytester):
    pytester.makepyfile(slow_models=SLOW_MODELS, test_progress=PROMPT_TESTS)
    pytester.makeconftest(OWN_FIXTURE)
    result = pytester.runpytest_subprocess("--bbi-progress=on")
    result.assert_outcomes(passed=2)
    final = [line for line in result.outlines if "slow-teacher: 200/200 completions" in line]
    assert len(final) == 1, result.outlines


@pytest.mark.parametrize(
    ("how", "printed"),
    [
        (["--bbi-progress=off"], False),
        (["-o", "bbi_progress=off"], False),
        ([], False),  # auto, into a pipe: a line only after 30 s
        (["-o", "bbi_progress=on"], True),
    ],
)
def test_progress_is_on_off_or_paced_for_a_log(pytester, how, printed):
    pytester.makepyfile(slow_models=SLOW_MODELS, test_progress=PROMPT_TESTS)
    pytester.makeini("[pytest]\nbbi_teacher = python:slow_models:teacher\n")
    result = pytester.runpytest_subprocess(*how)
    result.assert_outcomes(passed=2)
    assert any("bbi: generating slow-teacher" in line for line in result.outlines) is printed


def test_a_bad_progress_value_is_a_usage_error(pytester):
    pytester.makepyfile(test_nothing="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--bbi-progress=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--bbi-progress / bbi_progress 'sometimes': use one of auto, on, off*"]
    )


@pytest.mark.parametrize(
    ("visible", "spec", "device", "workers"),
    [
        ("0", "hf:models/teacher", "", 1),  # one GPU, in-process model: one worker
        ("0", "openai:m@http://127.0.0.1:1/v1", "", None),  # served model: xdist's own choice
        ("0", "hf:models/teacher", "cpu", None),  # --bbi-device=cpu: no GPU to protect
        ("", "hf:models/teacher", "", None),  # no GPU: xdist's own choice
    ],
)
def test_n_auto_is_capped_by_visible_gpus_for_in_process_models(
    pytester, monkeypatch, visible, spec, device, workers
):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "")
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS")
    pytester.makepyfile(test_nothing="def test_one():\n    pass\n")
    # The worker count is decided before any model loads; the folder only has to pass the
    # startup check (a config.json), no weights are read.
    pytester.mkdir("models").joinpath("teacher").mkdir()
    pytester.path.joinpath("models", "teacher", "config.json").write_text("{}")
    options = ["-n", "auto", "-p", "xdist", f"--bbi-teacher={spec}"]
    if device:
        options.append(f"--bbi-device={device}")
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=1)
    if workers is None:  # what xdist itself picks on this machine (its core count)
        from xdist.plugin import pytest_xdist_auto_num_workers

        own_choice = SimpleNamespace(option=SimpleNamespace(numprocesses="auto"))
        workers = pytest_xdist_auto_num_workers(own_choice)  # type: ignore[arg-type]
    result.stdout.fnmatch_lines([f"*created: {workers}/{workers} worker*"])
