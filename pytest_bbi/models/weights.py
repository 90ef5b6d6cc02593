"""Identity of local model folders: safetensors-only weight files and their content hash."""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Callable

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.decoding import Decoding
from pytest_bbi.models.machine_cache import files_sha256, remembered_digest

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_BEHAVIOR_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def _weights_digest(weight_files: list[pathlib.Path]) -> str:
    """SHA-256 of the weight files' names and bytes in name order, remembered per version."""
    return remembered_digest("weights", weight_files, lambda: files_sha256(weight_files))


def model_identity(directory: pathlib.Path, weights: list[pathlib.Path], settings: str) -> str:
    """``hf:`` + SHA-256 over the weights, the behavior-relevant config files and ``settings``.

    Args:
        directory: the model folder.
        weights: its weight files, from :func:`weight_files`.
        settings: the canonical decoding settings.
    """
    digest = hashlib.sha256(_weights_digest(weights).encode())
    for file_name in _BEHAVIOR_FILES:
        path = directory / file_name
        if path.is_file():
            digest.update(f"\0{file_name}\0".encode() + path.read_bytes())
    digest.update(f"\0decoding\0{settings}".encode())
    return f"hf:{digest.hexdigest()}"


def identities_like(identity: str, decoding: Decoding) -> Callable[[Decoding], str]:
    """The identities of a model's weights under any decoding, knowing one of them.

    Args:
        identity: the model's identity under ``decoding``.
        decoding: its decoding settings.

    Returns:
        A function giving ``identity`` for ``decoding`` and, for other settings, a hash of
        ``identity`` and those settings.
    """

    def identity_of(other: Decoding) -> str:
        if other.fingerprint() == decoding.fingerprint():
            return identity
        text = f"{identity}\0decoding\0{other.fingerprint()}"
        return f"hf:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"

    return identity_of


def weight_files(directory: pathlib.Path) -> list[pathlib.Path]:
    """The directory's safetensors files, refusing a missing directory or pickle-only weights.

    Raises:
        ModelSpecError: when the folder, its config or its safetensors weights are missing, or a
            weight file is truncated or not a safetensors file.
    """
    layout = "`hf:` takes a local directory containing config.json and *.safetensors weights"
    if not directory.is_dir():
        raise ModelSpecError(
            f"hf: model directory {str(directory)!r} was not found; {layout} (e.g. one written "
            "by `model.save_pretrained(dir)`). Hub model ids are not downloaded."
        )
    if not (directory / "config.json").is_file():
        raise ModelSpecError(f"hf: {str(directory)!r} has no config.json; {layout}.")
    weights = sorted(directory.glob("*.safetensors"))
    if weights:
        for path in weights:
            _check_safetensors(path)
        return weights
    pickles = sorted(path.name for path in directory.iterdir() if path.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise ModelSpecError(
            f"hf: {str(directory)!r} holds only pickle checkpoints ({', '.join(pickles)}), and "
            "loading a pickle can run arbitrary code, so pytest-bbi reads safetensors only. If "
            "you trust the files, convert them once: load the model with transformers yourself "
            "and call `model.save_pretrained(dir, safe_serialization=True)` (and "
            "`tokenizer.save_pretrained(dir)`), then point `hf:` at that directory."
        )
    raise ModelSpecError(f"hf: {str(directory)!r} has no *.safetensors weights; {layout}.")


def _check_safetensors(path: pathlib.Path) -> None:
    """Read a weight file's header, refusing a truncated, empty or garbage file by name.

    Raises:
        ModelSpecError: naming the file, what the reader found and how to fix it.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            weights.keys()
    except (SafetensorError, OSError) as error:
        size = path.stat().st_size if path.exists() else 0
        raise ModelSpecError(
            f"hf: the weight file {str(path)!r} ({size} bytes) is not a complete safetensors "
            f"file ({error}); it is truncated or damaged (an interrupted download or copy?). "
            "Copy or download it again, or re-save the model with "
            "`model.save_pretrained(dir, safe_serialization=True)`."
        ) from error
