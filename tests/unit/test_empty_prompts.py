"""Empty prompts in production traces are kept and reported once, naming their lines."""

import json
import warnings

import pytest

from pytest_bbi.errors import BbiWarning
from pytest_bbi.prompts import Prompt, from_jsonl


def write(path, texts):
    path.write_text(
        "".join(json.dumps({"prompt": text, "bucket": "math"}) + "\n" for text in texts)
    )
    return path


def test_empty_and_whitespace_prompts_are_kept_with_one_warning_naming_the_lines(tmp_path):
    path = write(tmp_path / "traces.jsonl", ["What is 2 + 2?", "", "  \t", "Add 3 and 4."])
    with pytest.warns(
        BbiWarning,
        match=r"traces\.jsonl: 2 of 4 prompts are empty or only whitespace \(lines 2, 3\)",
    ) as caught:
        prompts = from_jsonl(path)
    assert len(caught) == 1
    assert [prompt.text for prompt in prompts] == ["What is 2 + 2?", "", "  \t", "Add 3 and 4."]
    assert prompts[1] == Prompt("", "math")


def test_many_empty_prompts_list_the_first_lines(tmp_path):
    path = write(tmp_path / "traces.jsonl", ["x", *[""] * 12])
    with pytest.warns(BbiWarning, match=r"12 of 13 .*\(lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …\)"):
        from_jsonl(path)


def test_traces_without_empty_prompts_warn_about_nothing(tmp_path):
    path = write(tmp_path / "traces.jsonl", ["What is 2 + 2?", " leading space is fine"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(from_jsonl(path)) == 2
