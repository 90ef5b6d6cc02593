"""The MiniLM encoder as an ONNX graph: built once from the packaged weights, cached, verified."""

from __future__ import annotations

import hashlib
import logging
import math
import pathlib
import re
import tempfile
import warnings
from collections.abc import Mapping
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Literal

from filelock import FileLock

from pytest_bbi.errors import BbiWarning
from pytest_bbi.models.machine_cache import (
    files_sha256,
    model_cache_root,
    remembered_digest,
    write_atomically,
)
from pytest_bbi.progress import phase

if TYPE_CHECKING:
    from numpy.typing import NDArray

Precision = Literal["fp32", "int8"]
"""How the exported graph stores its matrix weights: as they are, or int8 (dynamic quantization)."""

EXPORT_FORMAT = "2"
"""The version of the graph this module writes; bump it whenever the graph changes."""

SOURCE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json")
"""The packaged files an embedding depends on, hashed into the model digest."""

_OPSET = 17
_FEED_FORWARD_DOWN = re.compile(r"encoder\.layer\.\d+\.output\.dense\.matmul")
_LAYER_NORM_EPSILON = 1e-12


def model_digest(folder: pathlib.Path, cache_root: pathlib.Path | None = None) -> str:
    """SHA-256 over the encoder folder's :data:`SOURCE_FILES`, hashed once per file version.

    Hashing the 90 MB of weights takes a few tenths of a second, so the digest is remembered
    (:func:`~pytest_bbi.models.machine_cache.remembered_digest`): a process that finds it
    reads no weights.

    Args:
        folder: the sentence-transformers folder of the packaged all-MiniLM-L6-v2.
        cache_root: where the remembered digest lives; ``None`` for :func:`model_cache_root`.

    Returns:
        The hex digest; it changes when the weights, the tokenizer or the configs change.
    """
    files = [folder / name for name in SOURCE_FILES]
    return remembered_digest(
        "minilm-source", files, lambda: files_sha256(files, after_each=b"\0"), cache_root
    )


def exporter_versions(precision: Precision) -> str:
    """What the exported bytes depend on besides the weights: the graph format and the tools."""
    tools = f"onnx{version('onnx')}"
    if precision == "int8":
        tools += f"-ort{version('onnxruntime')}"
    return f"v{EXPORT_FORMAT}-{tools}"


def exported_path(
    folder: pathlib.Path, precision: Precision, cache_root: pathlib.Path
) -> pathlib.Path:
    """Where the export of ``folder`` at ``precision`` is cached (its digest beside it)."""
    name = (
        f"minilm-{model_digest(folder, cache_root)[:24]}-{precision}-"
        f"{exporter_versions(precision)}.onnx"
    )
    return cache_root / name


def exported_model(
    folder: pathlib.Path, precision: Precision, cache_root: pathlib.Path | None = None
) -> bytes:
    """The ONNX graph of the encoder in ``folder``, exported once per machine and verified.

    The graph is written under ``cache_root`` (default :func:`model_cache_root`, the folder of
    converted GGUF checkpoints) with the SHA-256 of its bytes beside it, named by the source
    files' digest, the precision and the exporter's versions. A file whose bytes do not match
    its recorded digest (truncated, damaged, or left by a crash) is rebuilt with a warning,
    never used. Concurrent processes (xdist workers) take a lock file before exporting, and
    both files are renamed into place only when complete, so a reader sees a whole file or
    none, and two processes exporting at once leave one good file.

    Args:
        folder: the sentence-transformers folder of the packaged all-MiniLM-L6-v2.
        precision: ``"fp32"`` or ``"int8"``.
        cache_root: where exported graphs live.

    Returns:
        The verified bytes of the ONNX model (inputs ``input_ids`` and ``attention_mask``, int64
        of shape ``(batch, tokens)``; output ``sentence_embedding``, the masked mean of the last
        hidden states, float32 of shape ``(batch, 384)``, not yet normalized).
    """
    root = (cache_root or model_cache_root()).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    target = exported_path(folder, precision, root)
    verified = _read_verified(target)
    if verified is not None:
        return verified
    with FileLock(str(root / "encoder-export.lock")):
        verified = _read_verified(target)
        if verified is not None:
            return verified
        if target.exists():
            warnings.warn(
                BbiWarning(
                    f"the cached ONNX encoder {str(target)!r} does not match its recorded "
                    "SHA-256 (truncated or damaged); it is exported again."
                ),
                stacklevel=2,
            )
        with phase(f"exporting all-MiniLM-L6-v2 to ONNX ({precision})", total=2) as export:
            model = build_graph(folder)
            export.advance()
            if precision == "int8":
                model = _quantized(model, root)
            export.advance()
        write_atomically(target, model)
        write_atomically(_digest_path(target), hashlib.sha256(model).hexdigest().encode())
        return model


def _digest_path(target: pathlib.Path) -> pathlib.Path:
    return target.with_name(target.name + ".sha256")


def _read_verified(target: pathlib.Path) -> bytes | None:
    """The file's bytes when they match the digest recorded beside it, else ``None``."""
    try:
        recorded = _digest_path(target).read_text().strip()
        model = target.read_bytes()
    except (OSError, UnicodeDecodeError):
        return None
    return model if hashlib.sha256(model).hexdigest() == recorded else None


def _quantized(model: bytes, root: pathlib.Path) -> bytes:
    """``model`` with int8 matrix weights (ONNX Runtime's dynamic quantization, per channel).

    Each layer's feed-forward down-projection keeps float32 weights: its input, the GELU
    output, has the widest range of any matrix product's, and quantizing it costs the most
    accuracy for the least time (measured in ``bench/ENCODER.md``).
    """
    root_logger = logging.getLogger()
    root_logger.addFilter(_without_pre_processing_advice)
    try:
        return _quantize_in(model, root)
    finally:
        root_logger.removeFilter(_without_pre_processing_advice)


def _without_pre_processing_advice(record: logging.LogRecord) -> bool:
    """Drop the quantizer's advice to pre-process (shape inference); this graph needs none."""
    return "pre-processing before quantization" not in record.getMessage()


def _quantize_in(model: bytes, root: pathlib.Path) -> bytes:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix=".quantizing-", dir=root) as scratch:
        source = pathlib.Path(scratch) / "fp32.onnx"
        quantized = pathlib.Path(scratch) / "int8.onnx"
        source.write_bytes(model)
        quantize_dynamic(
            source,
            quantized,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=[
                node.name
                for node in onnx.load_from_string(model).graph.node
                if _FEED_FORWARD_DOWN.fullmatch(node.name)
            ],
        )
        return quantized.read_bytes()


def build_graph(folder: pathlib.Path) -> bytes:
    """The BERT encoder and mean pooling of ``folder`` as a serialized ONNX model (fp32).

    The graph is written node by node from the safetensors weights and config (standard ONNX
    operators, opset 17), so exporting needs neither torch nor the model's Python code: the
    embeddings (word + token type 0 + position, layer-normed), ``num_hidden_layers`` encoder
    layers (multi-head self-attention with the padding masked out, the exact erf GELU, residual
    connections and layer norms, as ``transformers``' BERT computes them), then the mean of the
    last hidden states over the unmasked tokens.

    Args:
        folder: the sentence-transformers folder of the packaged all-MiniLM-L6-v2.

    Returns:
        The ONNX model's bytes.
    """
    import json

    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    weights = load_file(str(folder / "model.safetensors"))
    return _Graph(config, weights).serialized()


class _Graph:
    """Writes the nodes of the BERT graph: numbered names, the weights as initializers."""

    def __init__(self, config: Mapping[str, Any], weights: Mapping[str, NDArray[Any]]) -> None:
        self.config = config
        self.weights = weights
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self._count = 0

    def serialized(self) -> bytes:
        from onnx import TensorProto, checker, helper

        hidden = int(self.config["hidden_size"])
        mask = self.node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
        states = self.embeddings()
        mask_bias = self.attention_mask_bias(mask)
        for layer in range(int(self.config["num_hidden_layers"])):
            states = self.layer(f"encoder.layer.{layer}", states, mask_bias)
        self.mean_pooling(states, mask, "sentence_embedding")
        graph = helper.make_graph(
            self.nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
                helper.make_tensor_value_info(
                    "attention_mask", TensorProto.INT64, ["batch", "tokens"]
                ),
            ],
            [
                helper.make_tensor_value_info(
                    "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
                )
            ],
            list(self.initializers.values()),
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", _OPSET)],
            producer_name="pytest-bbi",
            producer_version=EXPORT_FORMAT,
        )
        model.ir_version = 8
        checker.check_model(model, full_check=True)
        serialized: bytes = model.SerializeToString()
        return serialized

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes: Any) -> str:
        from onnx import helper

        self._count += 1
        name = output or f"{op.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def constant(self, name: str, value: NDArray[Any]) -> str:
        from onnx import numpy_helper

        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(value, name=name)
        return name

    def weight(self, key: str, *, transpose: bool = False) -> str:
        import numpy as np

        value = self.weights[key]
        return self.constant(key, np.ascontiguousarray(value.T if transpose else value))

    def scalar(self, name: str, value: float) -> str:
        import numpy as np

        return self.constant(name, np.array(value, dtype=np.float32))

    def ints(self, name: str, values: list[int]) -> str:
        import numpy as np

        return self.constant(name, np.array(values, dtype=np.int64))

    def embeddings(self) -> str:
        words = self.node("Gather", [self.weight("embeddings.word_embeddings.weight"), "input_ids"])
        token_type = self.constant(
            "embeddings.token_type_embeddings.row0",
            self.weights["embeddings.token_type_embeddings.weight"][0].copy(),
        )
        typed = self.node("Add", [words, token_type])
        length = self.node("Shape", ["input_ids"], start=1, end=2)
        positions = self.node(
            "Slice",
            [self.weight("embeddings.position_embeddings.weight"), self.ints("zero", [0]), length],
        )
        summed = self.node("Add", [typed, positions])
        return self.layer_norm("embeddings.LayerNorm", summed)

    def attention_mask_bias(self, mask: str) -> str:
        """``(1 − mask) · float32 min`` of shape ``(batch, 1, 1, tokens)``, added to the scores."""
        import numpy as np

        expanded = self.node("Unsqueeze", [mask, self.ints("mask_axes", [1, 2])])
        masked_out = self.node("Sub", [self.scalar("one", 1.0), expanded])
        lowest = self.scalar("float32_min", float(np.finfo(np.float32).min))
        return self.node("Mul", [masked_out, lowest])

    def layer_norm(self, prefix: str, states: str) -> str:
        return self.node(
            "LayerNormalization",
            [states, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            axis=-1,
            epsilon=_LAYER_NORM_EPSILON,
        )

    def dense(self, prefix: str, states: str) -> str:
        product = self.node(
            "MatMul", [states, self.weight(f"{prefix}.weight", transpose=True)], f"{prefix}.matmul"
        )
        return self.node("Add", [product, self.weight(f"{prefix}.bias")])

    def heads(self, states: str, permutation: list[int]) -> str:
        heads = int(self.config["num_attention_heads"])
        width = int(self.config["hidden_size"]) // heads
        split = self.node(
            "Reshape", [states, self.ints(f"split_{heads}_{width}", [0, 0, heads, width])]
        )
        return self.node("Transpose", [split], perm=permutation)

    def layer(self, prefix: str, states: str, mask_bias: str) -> str:
        heads = int(self.config["num_attention_heads"])
        width = int(self.config["hidden_size"]) // heads
        query = self.heads(self.dense(f"{prefix}.attention.self.query", states), [0, 2, 1, 3])
        key = self.heads(self.dense(f"{prefix}.attention.self.key", states), [0, 2, 3, 1])
        value = self.heads(self.dense(f"{prefix}.attention.self.value", states), [0, 2, 1, 3])
        scores = self.node("MatMul", [query, key])
        scaled = self.node("Div", [scores, self.scalar(f"sqrt_{width}", math.sqrt(width))])
        probabilities = self.node("Softmax", [self.node("Add", [scaled, mask_bias])], axis=-1)
        context = self.node("MatMul", [probabilities, value])
        merged = self.node(
            "Reshape",
            [
                self.node("Transpose", [context], perm=[0, 2, 1, 3]),
                self.ints("merge_heads", [0, 0, heads * width]),
            ],
        )
        attended = self.dense(f"{prefix}.attention.output.dense", merged)
        states = self.layer_norm(
            f"{prefix}.attention.output.LayerNorm", self.node("Add", [attended, states])
        )
        intermediate = self.gelu(self.dense(f"{prefix}.intermediate.dense", states))
        output = self.dense(f"{prefix}.output.dense", intermediate)
        return self.layer_norm(f"{prefix}.output.LayerNorm", self.node("Add", [output, states]))

    def gelu(self, states: str) -> str:
        """The exact GELU, ``x · ½ · (1 + erf(x / √2))``."""
        scaled = self.node("Div", [states, self.scalar("sqrt_2", math.sqrt(2.0))])
        shifted = self.node("Add", [self.node("Erf", [scaled]), self.scalar("one", 1.0)])
        return self.node("Mul", [self.node("Mul", [states, shifted]), self.scalar("half", 0.5)])

    def mean_pooling(self, states: str, mask: str, output: str) -> str:
        weights = self.node("Unsqueeze", [mask, self.ints("last_axis", [2])])
        summed = self.node(
            "ReduceSum",
            [self.node("Mul", [states, weights]), self.ints("tokens_axis", [1])],
            keepdims=0,
        )
        counts = self.node("ReduceSum", [weights, self.ints("tokens_axis", [1])], keepdims=0)
        clipped = self.node("Max", [counts, self.scalar("smallest_count", 1e-9)])
        return self.node("Div", [summed, clipped], output)
