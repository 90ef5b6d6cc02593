"""The hf: backend through the fixtures: --bbi-device reaches the loader."""

from __future__ import annotations

import pytest
import torch

DEVICE_TEST = """
def test_device(teacher):
    assert teacher.model.device == "cpu"
    assert teacher.generate(["Q: hi A:"], [0])
"""


def test_bbi_device_chooses_the_device_of_hf_fixtures(pytester, tiny_teacher_dir):
    pytester.makepyfile(test_device=DEVICE_TEST)
    spec = f"--bbi-teacher=hf:{tiny_teacher_dir}"
    pytester.runpytest_subprocess(spec, "--bbi-device=cpu").assert_outcomes(passed=1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a GPU-less machine")
def test_asking_for_a_gpu_on_a_machine_without_one_fails_the_fixture_clearly(
    pytester, tiny_teacher_dir
):
    pytester.makepyfile(test_device=DEVICE_TEST)
    result = pytester.runpytest_subprocess(
        f"--bbi-teacher=hf:{tiny_teacher_dir}", "--bbi-device=cuda"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*device 'cuda' was requested but torch sees no CUDA device*"])
