"""Bringing your own model: in-memory transformers models, the student recipes, decoding views,
and the chat template by default."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models import (
    GreedyModel,
    LazyModel,
    Model,
    Scorer,
    TokenScorer,
    from_transformers,
    recipes,
)
from pytest_bbi.models.hf_loader import load_hf

PROMPTS = [f"Q: what is the capital of {place}? A:" for place in ("France", "Italy", "Spain")]
TEMPLATE = (
    "{% for message in messages %}<{{ message['role'] }}>{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)


def _loaded(folder):
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def test_an_in_memory_model_decodes_as_its_folder_does(tiny_teacher_dir):
    lm, tokenizer = _loaded(tiny_teacher_dir)
    model = from_transformers(lm, tokenizer, name="teacher", max_new_tokens=12)
    folder = load_hf(tiny_teacher_dir, max_new_tokens=12)
    assert isinstance(model, Model)
    assert isinstance(model, Scorer)
    assert isinstance(model, TokenScorer)
    assert isinstance(model, GreedyModel)
    seeds = [3, 4, 5]
    assert model.generate(PROMPTS, seeds) == folder.generate(PROMPTS, seeds)
    completions = model.generate(PROMPTS, seeds)
    # The same weights on the same device; a GPU's kernels may differ in the last float32 bits.
    assert model.score(PROMPTS, completions) == pytest.approx(
        folder.score(PROMPTS, completions), rel=1e-5, abs=1e-6
    )


def test_the_identity_comes_from_the_weights_the_tokenizer_and_the_decoding(tiny_teacher_dir):
    lm, tokenizer = _loaded(tiny_teacher_dir)
    first = from_transformers(lm, tokenizer, name="a")
    again = from_transformers(*_loaded(tiny_teacher_dir), name="b")
    assert first.identity == again.identity  # a rebuilt model is served from the cache
    assert first.identity.startswith("transformers:")
    hotter = from_transformers(lm, tokenizer, name="a", temperature=0.7)
    assert hotter.identity != first.identity
    nudged, _ = _loaded(tiny_teacher_dir)
    with torch.no_grad():
        next(nudged.parameters()).view(-1)[0] += 1e-3
    assert from_transformers(nudged, tokenizer, name="a").identity != first.identity
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == "<pad>"


def test_recipes_copy_and_change_the_model(tiny_teacher_dir):
    lm, tokenizer = _loaded(tiny_teacher_dir)
    before = {key: value.clone() for key, value in lm.state_dict().items()}
    int8 = recipes.int8_dynamic(lm)
    bf16 = recipes.bf16_round_trip(lm)
    pruned = recipes.drop_layers(lm, [0])
    assert all(torch.equal(before[key], value) for key, value in lm.state_dict().items())
    assert any("_packed_params" in key for key in int8.state_dict())
    weight = next(bf16.parameters())
    assert weight.dtype == torch.float32
    assert torch.equal(weight, weight.to(torch.bfloat16).to(torch.float32))
    assert pruned.config.num_hidden_layers == lm.config.num_hidden_layers - 1
    assert [layer.self_attn.layer_idx for layer in pruned.model.layers] == list(
        range(pruned.config.num_hidden_layers)
    )
    identities = {
        from_transformers(model, tokenizer, name=name, temperature=0, max_new_tokens=12).identity
        for name, model in (("teacher", lm), ("int8", int8), ("bf16", bf16), ("pruned", pruned))
    }
    assert len(identities) == 4
    completion = from_transformers(pruned, tokenizer, name="p", temperature=0).generate(
        PROMPTS[:1], [0]
    )
    assert isinstance(completion[0], str)


def test_drop_layers_refuses_what_it_cannot_cut(tiny_teacher_dir):
    lm, _ = _loaded(tiny_teacher_dir)
    layers = lm.config.num_hidden_layers
    with pytest.raises(ModelSpecError, match=r"keep at least one layer"):
        recipes.drop_layers(lm, range(layers))
    with pytest.raises(ModelSpecError, match=r"give indices in \[0, "):
        recipes.drop_layers(lm, [layers])
    with pytest.raises(ModelSpecError, match=r"model\.model\.layers"):
        recipes.drop_layers(torch.nn.Linear(2, 2), [0])


def test_with_decoding_shares_the_weights_and_names_the_settings(tiny_teacher_dir):
    folder_model = load_hf(tiny_teacher_dir, max_new_tokens=12)
    cooler = folder_model.with_decoding(temperature=0.5, name="cool")
    assert cooler.name == "cool"
    assert cooler.decoding.temperature == 0.5
    assert cooler.identity == load_hf(tiny_teacher_dir, temperature=0.5, max_new_tokens=12).identity
    greedy = folder_model.greedy()
    assert greedy.decoding.temperature == 0
    assert greedy.greedy() is greedy
    assert greedy.generate(PROMPTS, [1, 2, 3]) == greedy.generate(PROMPTS, [7, 8, 9])
    with pytest.raises(ModelSpecError, match="unknown settings temprature"):
        folder_model.with_decoding(temprature=0.5)
    with pytest.raises(ModelSpecError, match="top_p"):
        folder_model.with_decoding(top_p=2.0)


def test_the_chat_template_is_used_by_default_when_the_tokenizer_has_one(
    tiny_teacher_dir, tmp_path
):
    assert load_hf(tiny_teacher_dir).decoding.chat is False  # no template: raw prompts
    folder = tmp_path / "with-template"
    shutil.copytree(tiny_teacher_dir, folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "chat_template": TEMPLATE}))
    assert load_hf(folder).decoding.chat is True
    assert load_hf(folder, chat=False).decoding.chat is False
    assert load_hf(folder, chat="false").decoding.chat is False
    assert load_hf(folder, system_prompt="Be brief.").decoding.system_prompt == "Be brief."
    lm, tokenizer = _loaded(folder)
    assert from_transformers(lm, tokenizer, name="t").decoding.chat is True
    with pytest.raises(ModelSpecError, match=r"system_prompt.*needs chat=True"):
        load_hf(tiny_teacher_dir, system_prompt="Be brief.")


def test_from_transformers_explains_wrong_arguments(tiny_teacher_dir):
    lm, tokenizer = _loaded(tiny_teacher_dir)
    with pytest.raises(ModelSpecError, match="not a transformers causal LM"):
        from_transformers(object(), tokenizer, name="x")
    with pytest.raises(ModelSpecError, match="non-empty name"):
        from_transformers(lm, tokenizer, name=" ")
    with pytest.raises(ModelSpecError, match="batch_size"):
        from_transformers(lm, tokenizer, name="x", batch_size=0)


def test_a_lazy_folder_model_loads_its_weights_on_first_use(tiny_teacher_dir):
    eager = load_hf(tiny_teacher_dir, max_new_tokens=12, temperature=0.5)
    lazy = load_hf(tiny_teacher_dir, max_new_tokens=12, temperature=0.5, lazy=True)
    assert isinstance(lazy, LazyModel)
    assert lazy.identity == eager.identity
    assert not lazy.loaded
    assert lazy.generate(PROMPTS, [1, 2, 3]) == eager.generate(PROMPTS, [1, 2, 3])
    assert lazy.loaded
    assert lazy.greedy().identity == eager.greedy().identity
    with pytest.raises(ModelSpecError, match="lazy"):
        load_hf(tiny_teacher_dir, lazy="sometimes")
