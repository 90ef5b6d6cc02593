"""MiniLM embeddings through the session's feature cache: each text embedded once per cache.

The embedding adversary, fingerprints, calibration and ``assert_agree`` read embeddings here.
Under the plugin they are stored in the cache's file
(:class:`~pytest_bbi.generation.features.FeatureCache`), keyed by the text and the encoder's
identity (:func:`~pytest_bbi.adversaries.encoder.encoder_identity`): only the texts the cache
lacks are embedded, in batches, and the encoder loads only when there are some, so a warm rerun
loads no encoder at all. A load, and a wait for another worker embedding the same texts, is
setup: it does not count against an adversary's safety limit.

Values are stored as the float64 bytes of each vector, so a vector read back is the one that
was computed, bit for bit: a warm rerun's verdicts are the cold run's. A text's embedding
varies in the last float32 bits with the padding of the batch it was computed in; with a cache,
that batch is the one that first met the text.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pytest_bbi import context
from pytest_bbi.adversaries.base import Deadline
from pytest_bbi.adversaries.encoder import DIMENSION, embed, encoder_identity, load_encoder
from pytest_bbi.errors import BbiError
from pytest_bbi.generation.features import count
from pytest_bbi.models.uncounted import loading
from pytest_bbi.progress import phase

KIND = "embedding"
"""The kind of feature embeddings are stored as."""

_VECTOR = np.dtype("<f8")
_loaded = False
_loading = threading.Lock()


def embeddings(
    texts: Sequence[str], deadline: Deadline | None = None, *, batch_size: int = 64
) -> NDArray[np.float64]:
    """Unit-normalized MiniLM embeddings of ``texts``, one row per text, cached.

    Without a session cache (``--bbi-no-cache``, outside pytest) every distinct text is
    embedded afresh.

    Args:
        texts: the texts; duplicates are embedded once.
        deadline: the safety limit, checked between encoder batches; ``None`` for none.
        batch_size: texts per encoder call.

    Returns:
        An array of shape ``(len(texts), DIMENSION)``.

    Raises:
        AdversaryTimeout: when the deadline passes between batches.
        BbiError: when a stored embedding has the wrong size.
    """
    if not texts:
        return np.zeros((0, DIMENSION))
    limit = Deadline(None) if deadline is None else deadline
    distinct = list(dict.fromkeys(texts))
    features = context.current().features()
    if features is None:
        vectors = _compute(distinct, limit, batch_size)
        count(KIND, computed=len(distinct))
        rows = dict(zip(distinct, vectors, strict=True))
    else:
        stored = features.through(
            KIND,
            encoder_identity(),
            distinct,
            lambda missing: [_encode(row) for row in _compute(missing, limit, batch_size)],
        )
        rows = {
            text: _decode(value, features.store.path)
            for text, value in zip(distinct, stored, strict=True)
        }
    return np.stack([rows[text] for text in texts])


def _compute(texts: list[str], deadline: Deadline, batch_size: int) -> NDArray[np.float64]:
    """Embed ``texts``, loading the encoder first if this process has not."""
    _load_encoder()
    with phase(f"embedding {len(texts)} texts with MiniLM"):
        return embed(texts, deadline, batch_size=batch_size)


def _load_encoder() -> None:
    """Load the encoder once per process: a counted load, outside every safety limit."""
    global _loaded
    with _loading:
        if not _loaded:
            with phase("loading the MiniLM encoder"), loading("the MiniLM encoder"):
                load_encoder()
            _loaded = True


def _encode(vector: NDArray[np.float64]) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype=_VECTOR).tobytes()).decode()


def _decode(value: str, path: str) -> NDArray[np.float64]:
    raw = base64.b64decode(value)
    if len(raw) != DIMENSION * _VECTOR.itemsize:
        raise BbiError(
            f"the feature cache {path} holds an embedding of {len(raw)} bytes where "
            f"{DIMENSION * _VECTOR.itemsize} were expected; clear it with --bbi-cache-clear."
        )
    return np.frombuffer(raw, dtype=_VECTOR).astype(np.float64)
