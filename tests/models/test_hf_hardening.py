"""The hf: backend on bad folders and odd text: messages that name the file, no raw errors."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.hf_loader import load_hf

PROMPTS = ["Q: what is the capital of France? A:", "Q: what color is snow? A:"]


@pytest.fixture(scope="module")
def sampler(tiny_teacher_dir):
    return load_hf(tiny_teacher_dir, max_new_tokens=8)


def copy_of(tiny_teacher_dir, tmp_path):
    return shutil.copytree(tiny_teacher_dir, tmp_path / "model")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"\x00garbage" * 100,
        lambda data: b"",
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_damaged_safetensors_are_named_with_the_fix(tiny_teacher_dir, tmp_path, damage):
    folder = copy_of(tiny_teacher_dir, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(
        ModelSpecError,
        match=r"weight file '.*model\.safetensors' \(\d+ bytes\) is not a complete safetensors "
        r"file .*Copy or download it again",
    ):
        load_hf(folder)


@pytest.mark.parametrize("field", ["hidden_size", "num_hidden_layers", "vocab_size"])
def test_a_non_numeric_config_field_names_the_file_and_the_field(tiny_teacher_dir, tmp_path, field):
    folder = copy_of(tiny_teacher_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config[field] = "abc"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ModelSpecError, match=rf"config\.json' is not a model config .*{field}.*correct the field"
    ):
        load_hf(folder)


def test_a_config_that_is_not_json_names_the_file(tiny_teacher_dir, tmp_path):
    folder = copy_of(tiny_teacher_dir, tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelSpecError, match=r"config\.json' is not a model config"):
        load_hf(folder)


def test_a_prompt_that_is_not_unicode_is_generated_from_its_escape(sampler):
    odd = ["Q: what is the capital of Fr\udce9nce? A:", "\ud800"]
    completions = sampler.generate(odd, [1, 2])
    assert completions == sampler.generate(
        ["Q: what is the capital of Fr\\udce9nce? A:", "\\ud800"], [1, 2]
    )
    assert all(isinstance(text, str) for text in completions)


def test_a_completion_that_is_not_unicode_scores_minus_infinity(sampler):
    own = sampler.generate(PROMPTS, [3, 4])
    scores = sampler.score(PROMPTS * 2, [*own, own[0] + "\udce9", "\ud800"])
    assert all(math.isfinite(score) for score in scores[:2])
    assert scores[2:] == [-math.inf, -math.inf]
    assert scores[:2] == sampler.score(PROMPTS, own)
    rows = sampler.token_log_probs(PROMPTS, [own[0] + "\udce9", own[1]])
    assert all(math.isfinite(value) and value <= 0 for row in rows for value in row)


@pytest.mark.parametrize(
    "content",
    [b"GGUF\x03\x00\x00\x00truncated", b"not a gguf file at all " * 4],
    ids=["cut", "junk"],
)
def test_a_damaged_gguf_file_is_named_with_the_fix(tmp_path, monkeypatch, content):
    pytest.importorskip("gguf", reason="reading GGUF needs the [gguf] extra")
    monkeypatch.setenv("BBI_MODEL_CACHE", str(tmp_path / "converted"))
    checkpoint = tmp_path / "model.gguf"
    checkpoint.write_bytes(content)
    with pytest.raises(
        ModelSpecError, match=r"cannot read '.*model\.gguf' .*truncated or not a GGUF checkpoint"
    ):
        load_hf(checkpoint)
