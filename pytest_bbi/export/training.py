"""Training prompts read from exports: the weakest prompts, allotted to buckets by advantage."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_bbi.errors import ExportError
from pytest_bbi.export.formats import EXPORT_FORMAT, EXPORT_VERSION, INDEX_FORMAT, TARGETS_FORMAT
from pytest_bbi.prompts import Prompt

WEAKEST = 8
"""How many of each bucket's weakest prompts :func:`training_prompts` cycles by default."""


@dataclass(frozen=True)
class _Bucket:
    """One bucket of one exported verdict: its weight and its weakest prompts."""

    name: str
    weight: float
    prompts: tuple[str, ...]


def training_prompts(
    exports: str | Path | Iterable[str | Path],
    count: int,
    *,
    weakest: int = WEAKEST,
    include_passed: bool = False,
) -> list[Prompt]:
    """``count`` prompts for the teacher to answer, aimed where the exports say the student is weak.

    Reads the target lists (``targets.jsonl``) of exported verdicts. Each bucket that failed
    gets a share of ``count`` in proportion to its advantage (the mean advantage of the
    adversary class, which still varies when the strongest adversary tells every bucket apart
    on every pair; the strongest adversary's estimate in exports without it; largest
    remainders, weakest bucket first; equal shares when every advantage is 0), and fills it by
    cycling through its ``weakest`` weakest prompts in the list's order.
    Repeated prompts are meant to be answered with different seeds. The list ranks prompts; it
    is no test that any one prompt differs (see the target list's format).

    Args:
        exports: an ``--bbi-export`` folder (read through its ``index.json``), one verdict's
            folder (with its ``manifest.json``), or several of either.
        count: how many prompts to return.
        weakest: how many of each bucket's weakest prompts to use.
        include_passed: read the folders of tests that passed, and the buckets that passed in
            failing verdicts, too (their prompts are weak signal: a pass shows no difference).

    Returns:
        ``count`` prompts tagged with their bucket, bucket by bucket, weakest bucket first.

    Raises:
        ValueError: when ``count`` or ``weakest`` is not positive.
        ExportError: when a folder holds no export of a format and version this pytest-bbi
            reads, or when no bucket to train on has target prompts.
    """
    if count < 1 or weakest < 1:
        raise ValueError(f"training_prompts: count ({count}) and weakest ({weakest}) must be ≥ 1.")
    folders = [exports] if isinstance(exports, str | Path) else list(exports)
    buckets = [
        bucket
        for folder in folders
        for verdict in _verdict_folders(Path(folder), include_passed)
        for bucket in _buckets(verdict, weakest, include_passed)
    ]
    if not buckets:
        raise ExportError(
            f"training_prompts: no {'' if include_passed else 'failing '}bucket with target "
            f"prompts in {', '.join(map(str, folders))}; export a verdict made in this process "
            "(one read back from JSON has no prompts to rank)"
            + ("" if include_passed else ", or pass include_passed=True")
            + "."
        )
    shares = _shares([bucket.weight for bucket in buckets], count)
    return [
        Prompt(bucket.prompts[index % len(bucket.prompts)], bucket.name)
        for bucket, share in zip(buckets, shares, strict=True)
        for index in range(share)
    ]


def _verdict_folders(folder: Path, include_passed: bool) -> list[Path]:
    """The verdict folders under an export folder (by its index), or the folder itself."""
    if (folder / "manifest.json").is_file():
        return [folder]
    index = _json(folder / "index.json", "no manifest.json or index.json")
    _check(index, INDEX_FORMAT, folder / "index.json")
    return [
        folder / str(entry["folder"])
        for entry in index["exports"]
        if include_passed or not entry["passed"]
    ]


def _buckets(folder: Path, weakest: int, include_passed: bool) -> list[_Bucket]:
    """The buckets of one verdict's target list, weakest first, with their weakest prompts."""
    manifest = _json(folder / "manifest.json", "no manifest.json")
    _check(manifest, EXPORT_FORMAT, folder / "manifest.json")
    entry = manifest["files"]["targets"]
    _check(entry, TARGETS_FORMAT, folder / "manifest.json")
    rows = [json.loads(line) for line in (folder / entry["path"]).read_text("utf-8").splitlines()]
    prompts: dict[str, list[str]] = {}
    for row in rows:
        if row["kind"] == "prompt" and len(prompts.setdefault(row["bucket"], [])) < weakest:
            prompts[row["bucket"]].append(row["prompt"])
    return [
        _Bucket(row["bucket"], max(_advantage(row), 0.0), tuple(prompts[row["bucket"]]))
        for row in rows
        if row["kind"] == "bucket"
        and (include_passed or not row["passed"])
        and prompts.get(row["bucket"])
    ]


def _advantage(row: dict[str, Any]) -> float:
    """A bucket row's weight: the class's mean advantage, else the strongest's estimate."""
    for key in ("class_advantage", "estimate"):
        if row.get(key) is not None:
            return float(row[key])
    return float(row["advantage"])


def _shares(weights: list[float], count: int) -> list[int]:
    """``count`` split in proportion to ``weights`` by largest remainders (ties: first wins)."""
    total = sum(weights)
    exact = (
        [count * w / total for w in weights] if total > 0 else [count / len(weights)] * len(weights)
    )
    shares = [int(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for index in by_remainder[: count - sum(shares)]:
        shares[index] += 1
    return shares


def _json(path: Path, missing: str) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(
            f"{str(path.parent)!r} is no pytest-bbi export ({missing}); pass the --bbi-export "
            "folder or one of its test folders."
        ) from None
    except (OSError, ValueError) as error:
        raise ExportError(f"cannot read {str(path)!r}: {error}") from None
    if not isinstance(loaded, dict):
        raise ExportError(f"{str(path)!r} is not a JSON object.")
    return loaded


def _check(document: dict[str, Any], format_name: str, path: Path) -> None:
    found = (document.get("format"), document.get("version"))
    if found != (format_name, EXPORT_VERSION):
        raise ExportError(
            f"{str(path)!r} holds format {found[0]!r} version {found[1]!r}; this pytest-bbi "
            f"reads {format_name!r} version {EXPORT_VERSION}. Export again with this version."
        )
