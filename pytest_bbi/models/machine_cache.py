"""The machine's model cache: its folder, and file digests remembered there across processes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tempfile
from collections.abc import Callable, Sequence

MODEL_CACHE_ENV = "BBI_MODEL_CACHE"
"""Environment variable naming the folder that holds converted checkpoints and digests."""

_FileVersion = tuple[str, int, int, int, int]
_remembered: dict[tuple[str, tuple[_FileVersion, ...]], str] = {}


def model_cache_root() -> pathlib.Path:
    """The folder for converted checkpoints: ``$BBI_MODEL_CACHE``, else the user cache folder."""
    configured = os.environ.get(MODEL_CACHE_ENV)
    if configured:
        return pathlib.Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "pytest-bbi" / "models"


def remembered_digest(
    label: str,
    files: Sequence[pathlib.Path],
    compute: Callable[[], str],
    cache_root: pathlib.Path | None = None,
) -> str:
    """The SHA-256 hex digest ``compute()`` returns over ``files``, computed once per version.

    Hashing a model's weights reads hundreds of megabytes, so the digest is remembered in this
    process and in a small file under ``cache_root`` named by ``label`` and each file's path,
    size, modification and change times and inode: a process that finds it there reads no
    weights. Rewriting a file changes its change time (which no tool can set back), so a
    remembered digest is never served for other bytes. A cache folder that cannot be written
    only costs the hashing.

    Args:
        label: what is hashed and how (e.g. ``"weights"``); digests of different kinds of the
            same files are remembered apart.
        files: the files ``compute`` reads.
        compute: hashes the files; called only when no digest is remembered.
        cache_root: where the digest is remembered; ``None`` for :func:`model_cache_root`.

    Returns:
        The 64-character hex digest.
    """
    key = (label, tuple(_version(path) for path in files))
    if key in _remembered:
        return _remembered[key]
    name = hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:24]
    memo = (cache_root or model_cache_root()).expanduser() / f"{label}-{name}.sha256"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        remembered = memo.read_text().strip()
        if len(remembered) == 64 and all(char in "0123456789abcdef" for char in remembered):
            _remembered[key] = remembered
            return remembered
    _remembered[key] = compute()
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(memo, _remembered[key].encode())
    return _remembered[key]


def files_sha256(files: Sequence[pathlib.Path], *, after_each: bytes = b"") -> str:
    """SHA-256 over each file's name, a NUL byte, its bytes and ``after_each``, in the given order.

    Args:
        files: the files, read in 1 MiB blocks.
        after_each: bytes hashed after each file's content (the framing of an existing digest).
    """
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        digest.update(after_each)
    return digest.hexdigest()


def _version(path: pathlib.Path) -> _FileVersion:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def write_atomically(target: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target``, flush it to disk, rename it over."""
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staging, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
