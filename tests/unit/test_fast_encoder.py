"""The ONNX MiniLM encoder: its graph, its cached export (damage, concurrency) and its identity."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pytest_bbi.adversaries import encoder, encoder_export
from pytest_bbi.errors import BbiWarning, ModelSpecError
from pytest_bbi.models import machine_cache

TINY_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_act": "gelu",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "vocab_size": 30522,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}

TEXTS = [
    "",
    "Hello, world!",
    "A longer sentence about the northern hills and a forgotten song, told twice.",
    "unicode: café, naïve, 東京, 🎉",
    " leading and trailing spaces  ",
    "word " * 400,  # past MAX_TOKENS: truncated
]


def tiny_weights(seed):
    """Random BERT weights with MiniLM's key names, scaled so that every layer matters."""
    rng = np.random.default_rng(seed)
    hidden, inner = TINY_CONFIG["hidden_size"], TINY_CONFIG["intermediate_size"]

    def normal(*shape, scale):
        return rng.normal(0.0, scale, shape).astype(np.float32)

    weights = {
        "embeddings.word_embeddings.weight": normal(TINY_CONFIG["vocab_size"], hidden, scale=1.0),
        "embeddings.position_embeddings.weight": normal(512, hidden, scale=0.5),
        "embeddings.token_type_embeddings.weight": normal(2, hidden, scale=0.5),
        "embeddings.LayerNorm.weight": 1.0 + normal(hidden, scale=0.1),
        "embeddings.LayerNorm.bias": normal(hidden, scale=0.1),
    }
    shapes = {
        "attention.self.query": (hidden, hidden),
        "attention.self.key": (hidden, hidden),
        "attention.self.value": (hidden, hidden),
        "attention.output.dense": (hidden, hidden),
        "intermediate.dense": (inner, hidden),
        "output.dense": (hidden, inner),
    }
    for layer in range(TINY_CONFIG["num_hidden_layers"]):
        prefix = f"encoder.layer.{layer}"
        for name, (out, into) in shapes.items():
            weights[f"{prefix}.{name}.weight"] = normal(out, into, scale=into**-0.5 * 2)
            weights[f"{prefix}.{name}.bias"] = normal(out, scale=0.1)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[f"{prefix}.{norm}.weight"] = 1.0 + normal(hidden, scale=0.1)
            weights[f"{prefix}.{norm}.bias"] = normal(hidden, scale=0.1)
    return weights


def write_tiny_folder(folder, seed=0):
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    packaged = encoder.model_folder()
    for name in ("tokenizer.json", "sentence_bert_config.json"):
        if not (folder / name).exists():
            shutil.copy(packaged / name, folder / name)
    (folder / "config.json").write_text(json.dumps(TINY_CONFIG))
    save_file(tiny_weights(seed), str(folder / "model.safetensors"))
    return folder


REAL_MODEL_CACHE = os.environ.get("BBI_MODEL_CACHE")


@pytest.fixture(autouse=True)
def _private_model_cache(monkeypatch, tmp_path):
    """Digests and exports of the tests' models stay out of the user's model cache."""
    monkeypatch.setenv("BBI_MODEL_CACHE", str(tmp_path / "model-cache"))


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return write_tiny_folder(tmp_path_factory.mktemp("tiny-minilm"))


@pytest.fixture
def tiny_encoder(monkeypatch, tiny_folder):
    monkeypatch.setattr(encoder, "model_folder", lambda: tiny_folder)
    return tiny_folder


def onnx_rows(cache_root, texts):
    return encoder.OnnxEncoder("tiny", "fp32", cache_root).encode(texts)


def test_the_graph_computes_what_transformers_bert_computes(tiny_encoder, tmp_path):
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(tiny_encoder), add_pooling_layer=False).eval()
    tokenizer = encoder._tokenizer(tiny_encoder)
    rows = tokenizer.encode_batch(TEXTS)
    ids = torch.tensor([row.ids for row in rows])
    mask = torch.tensor([row.attention_mask for row in rows])
    assert ids.shape[1] == encoder.MAX_TOKENS
    with torch.inference_mode():
        states = model(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    expected = torch.nn.functional.normalize(pooled, dim=1).double().numpy()

    got = onnx_rows(tmp_path, TEXTS)

    # float32 arithmetic in another order: agreement to a few float32 ulps of a unit vector.
    assert np.abs(got - expected).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-12)


def test_a_text_is_embedded_alike_in_any_batch(tiny_encoder, tmp_path):
    alone = onnx_rows(tmp_path, ["Hello, world!"])
    padded = onnx_rows(tmp_path, ["Hello, world!", "word " * 100])
    assert np.abs(alone[0] - padded[0]).max() < 1e-6


def test_the_export_is_made_once_and_reused(tiny_folder, tmp_path, monkeypatch):
    first = encoder_export.exported_model(tiny_folder, "fp32", tmp_path)

    def no_second_export(folder):
        raise AssertionError("exported again")

    monkeypatch.setattr(encoder_export, "build_graph", no_second_export)
    assert encoder_export.exported_model(tiny_folder, "fp32", tmp_path) == first
    target = encoder_export.exported_path(tiny_folder, "fp32", tmp_path)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == (
        target.with_name(target.name + ".sha256").read_text()
    )


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "empty", "digest missing"])
def test_a_damaged_export_is_rebuilt_not_trusted(tiny_folder, tmp_path, damage):
    good = encoder_export.exported_model(tiny_folder, "fp32", tmp_path)
    target = encoder_export.exported_path(tiny_folder, "fp32", tmp_path)
    if damage == "truncated":
        target.write_bytes(good[: len(good) // 2])
    elif damage == "flipped byte":
        middle = len(good) // 2
        target.write_bytes(good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :])
    elif damage == "empty":
        target.write_bytes(b"")
    else:
        target.with_name(target.name + ".sha256").unlink()

    with pytest.warns(BbiWarning, match="does not match its recorded SHA-256"):
        rebuilt = encoder_export.exported_model(tiny_folder, "fp32", tmp_path)

    assert rebuilt == good
    assert target.read_bytes() == good
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".exporting-")]


def test_two_processes_exporting_at_once_leave_one_good_file(tiny_folder, tmp_path):
    root = tmp_path / "cache"
    start = time.time() + 3.0
    script = textwrap.dedent(
        f"""
        import hashlib, pathlib, time
        from pytest_bbi.adversaries.encoder_export import exported_model
        time.sleep(max(0.0, {start!r} - time.time()))
        folder, root = pathlib.Path({str(tiny_folder)!r}), pathlib.Path({str(root)!r})
        model = exported_model(folder, "fp32", root)
        print(hashlib.sha256(model).hexdigest())
        """
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    digests = [worker.communicate(timeout=300)[0].strip() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]

    target = encoder_export.exported_path(tiny_folder, "fp32", root)
    assert digests[0] == digests[1] == hashlib.sha256(target.read_bytes()).hexdigest()
    names = sorted(path.name for path in root.iterdir())
    (memo,) = [name for name in names if name.startswith("minilm-source-")]
    assert names == sorted([target.name, target.name + ".sha256", "encoder-export.lock", memo])


def test_the_identity_names_the_weights_the_backend_and_the_precision(
    tiny_encoder, tmp_path, monkeypatch
):
    int8, fp32 = encoder.encoder_identity("onnx"), encoder.encoder_identity("onnx-fp32")
    torch_identity = encoder.encoder_identity("torch")
    assert len({int8, fp32, torch_identity}) == 3
    assert ":int8:" in int8
    assert ":fp32:" in fp32
    assert "torch" in torch_identity
    digest = encoder_export.model_digest(tiny_encoder)[:16]
    assert all(digest in identity for identity in (int8, fp32, torch_identity))

    real_version = encoder.version
    monkeypatch.setattr(
        encoder, "version", lambda name: "99.0" if name == "onnxruntime" else real_version(name)
    )
    assert encoder.encoder_identity("onnx-fp32") != fp32
    monkeypatch.setattr(encoder, "version", real_version)

    other = write_tiny_folder(tmp_path / "retrained", seed=1)
    monkeypatch.setattr(encoder, "model_folder", lambda: other)
    assert encoder.encoder_identity("onnx-fp32") != fp32
    assert encoder_export.exported_path(other, "fp32", tmp_path) != (
        encoder_export.exported_path(tiny_encoder, "fp32", tmp_path)
    )


def test_the_identity_follows_a_change_of_the_weights_in_place(tmp_path, monkeypatch):
    folder = write_tiny_folder(tmp_path / "model", seed=0)
    monkeypatch.setattr(encoder, "model_folder", lambda: folder)
    before = encoder.encoder_identity("onnx")
    write_tiny_folder(folder, seed=2)
    weights = folder / "model.safetensors"
    # A later write: its modification time differs even on a coarse file-system clock.
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert encoder.encoder_identity("onnx") != before


def test_the_model_digest_is_remembered_across_processes(tmp_path):
    folder = write_tiny_folder(tmp_path / "model")
    digest = encoder_export.model_digest(folder, tmp_path)
    (memo,) = tmp_path.glob("minilm-source-*.sha256")
    assert memo.read_text() == digest
    machine_cache._remembered.clear()
    memo.write_text("f" * 64)
    assert encoder_export.model_digest(folder, tmp_path) == "f" * 64  # read, not hashed
    machine_cache._remembered.clear()
    memo.write_text("garbage")
    assert encoder_export.model_digest(folder, tmp_path) == digest


def test_auto_picks_onnx_without_a_gpu_and_names_bad_backends(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv(encoder.ENCODER_ENV, raising=False)
    assert encoder.chosen_backend() == "onnx"
    monkeypatch.setenv(encoder.ENCODER_ENV, "Torch")
    assert encoder.chosen_backend() == "torch"
    monkeypatch.setenv(encoder.ENCODER_ENV, "tensorflow")
    with pytest.raises(ModelSpecError, match=r"BBI_ENCODER='tensorflow'.*auto, onnx"):
        encoder.chosen_backend()


def test_the_cpu_encoder_needs_neither_torch_nor_sentence_transformers():
    """The real MiniLM through ``embed``, in a fresh process: exported once into the model cache."""
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from pytest_bbi.adversaries.base import Deadline
        from pytest_bbi.adversaries.encoder import embed, encoder_identity, load_encoder
        texts = ["b", "a lone surrogate \\ud800 here", "a", "word " * 400]
        rows = embed(texts, Deadline(None))
        reordered = embed(texts[::-1], Deadline(None))[::-1]
        print(json.dumps({
            "identity": encoder_identity(),
            "loaded": load_encoder().identity,
            "shape": list(rows.shape),
            "norms": np.linalg.norm(rows, axis=1).tolist(),
            "same in any order": bool((rows == reordered).all()),
            "heavy": [m for m in ("torch", "sentence_transformers", "transformers")
                      if m in sys.modules],
        }))
        """
    )
    # The real export is shared with every other run on this machine, as the plugin's tests do.
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    environment.pop(encoder.ENCODER_ENV, None)
    environment.pop("BBI_MODEL_CACHE")
    if REAL_MODEL_CACHE is not None:
        environment["BBI_MODEL_CACHE"] = REAL_MODEL_CACHE
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["heavy"] == []
    assert result["identity"] == result["loaded"]
    assert f":{encoder.ONNX_PRECISION}:" in result["identity"]
    assert result["shape"] == [4, encoder.DIMENSION]
    assert np.allclose(result["norms"], 1.0, atol=1e-12)
    assert result["same in any order"]


@pytest.mark.slow
def test_the_onnx_encoder_agrees_with_sentence_transformers_on_minilm():
    """fp32: max |Δ| ≤ 1e-5; int8: cosine ≥ 0.97 with PyTorch's for every text, 0.99 on average.

    ``bench/encoder.py`` measures both on thousands of texts, and the adversaries' accuracy.
    """
    texts = [*TEXTS, *(f"Sentence number {i} about {'topic ' * (i % 7)}things." for i in range(60))]
    reference = encoder.open_encoder("torch").encode(texts)
    fp32 = encoder.open_encoder("onnx-fp32").encode(texts)
    int8 = encoder.open_encoder("onnx").encode(texts)
    assert np.abs(fp32 - reference).max() < 1e-5
    cosines = (int8 * reference).sum(axis=1)
    assert cosines.min() >= 0.97
    assert cosines.mean() >= 0.99
