"""``--bbi-reference`` / ini ``bbi_reference``: a local scoring model, checked at startup."""

from __future__ import annotations

import pytest

TESTS = """
def test_nothing():
    pass
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "openai:gpt-4o@https://api.example.com/v1",
            "*--bbi-reference / bbi_reference 'openai:gpt-4o@https://api.example.com/v1': the "
            "reference model scores each completion token by token in this process, which a "
            "served openai: endpoint cannot do*name a local causal LM: hf:path/to/model-dir*",
        ),
        ("hf:no/such/folder", "*--bbi-reference / bbi_reference: *no/such/folder*"),
    ],
)
def test_a_reference_that_cannot_score_locally_is_a_usage_error(pytester, spec, message):
    pytester.makepyfile(test_nothing=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", f"--bbi-reference={spec}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_the_ini_key_is_checked_too(pytester):
    pytester.makepyfile(test_nothing=TESTS)
    pytester.makeini("[pytest]\nbbi_reference = vllm:models/smollm2\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*served vllm: endpoint cannot do*hf:path/to/model-dir*"])
