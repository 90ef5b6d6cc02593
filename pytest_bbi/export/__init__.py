"""Exports a training job can consume: preference pairs, a target list and a reward model.

A failing behavioral test says where the student gives itself away; :func:`export_verdict`
writes that as files (the ``--bbi-export DIR`` option writes them for every test of a session):

- ``pairs.jsonl``: preference pairs in TRL's preference format (``prompt``, ``chosen`` = the
  teacher's completion, ``rejected`` = the student's), the held-out pairs the adversaries were
  most sure of, per bucket; ``pairs_meta.jsonl`` says which adversary and how sure, row by row;
- ``targets.jsonl``: the buckets weakest first, then each bucket's weakest prompts, with their
  advantages and intervals: the prompts to have the teacher write more data for;
- ``reward_model.safetensors``: the learned pairwise discriminator with the largest lower bound,
  as weights a :class:`RewardModel` scores completions with (:func:`load_reward_model`);
- ``manifest.json``: the format and version of each file, and the verdict it came from.

:func:`training_prompts` reads target lists back as the prompts of the next training round.

Every text is passed through :func:`pytest_bbi.models.redaction.redact` before it is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pytest_bbi._version import __version__
from pytest_bbi.adversaries.base import LabeledPair
from pytest_bbi.adversaries.pairwise import PairwiseAdversary
from pytest_bbi.errors import ExportError
from pytest_bbi.export.formats import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    INDEX_FORMAT,
    PAIRS_FORMAT,
    TARGETS_FORMAT,
)
from pytest_bbi.export.reward import (
    FEATURIZERS,
    REWARD_FORMAT,
    REWARD_VERSION,
    RewardModel,
    load_reward_model,
    save_reward_model,
)
from pytest_bbi.export.rows import (
    PAIRS_PER_BUCKET,
    PROMPTS_PER_BUCKET,
    meta_row,
    pair_rows,
    preference_row,
    target_rows,
)
from pytest_bbi.export.training import WEAKEST, training_prompts
from pytest_bbi.models.redaction import redact
from pytest_bbi.verdict import Verdict

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "INDEX_FORMAT",
    "PAIRS_FORMAT",
    "PAIRS_PER_BUCKET",
    "PROMPTS_PER_BUCKET",
    "REWARD_FORMAT",
    "REWARD_VERSION",
    "TARGETS_FORMAT",
    "WEAKEST",
    "RewardModel",
    "export_verdict",
    "folder_name",
    "load_reward_model",
    "training_prompts",
    "write_index",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_name(nodeid: str, ordinal: int = 1) -> str:
    """A file-system-safe folder name for a test's ``ordinal``-th verdict.

    The node id's letters, digits, dots, dashes and underscores are kept (the rest become
    ``_``, at most 80 characters), and a digest of the whole node id is appended, so two
    tests never share a folder however alike their names.
    """
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    readable = _UNSAFE.sub("_", nodeid).strip("._")[:80] or "test"
    suffix = "" if ordinal == 1 else f"-{ordinal}"
    return f"{readable}-{digest}{suffix}"


def export_verdict(
    verdict: Verdict,
    directory: str | Path,
    *,
    pairs_per_bucket: int = PAIRS_PER_BUCKET,
    conversational: bool = False,
    nodeid: str | None = None,
) -> dict[str, Any]:
    """Write a verdict's preference pairs, target list and reward model into ``directory``.

    Every verdict can be exported, passing or failing (``manifest.json`` says which): a pass
    still ranks the pairs and prompts, but with no evidence that the student differs, so its
    pairs are weak training signal. The reward model is refitted from the verdict's training
    pairs exactly as the game fitted it, so it needs a verdict made in this process by
    :func:`~pytest_bbi.assert_indistinguishable` (one rebuilt from JSON exports its examples
    and targets only).

    Args:
        verdict: the verdict (the exception's ``.verdict`` when the assertion failed).
        directory: the folder to write into (created when missing; files are replaced).
        pairs_per_bucket: the most preference pairs per bucket.
        conversational: write the pairs in TRL's conversational format (the prompt as a user
            message, completions as assistant messages) rather than as plain strings.
        nodeid: the test the verdict came from, recorded in the manifest.

    Returns:
        The manifest, as written to ``manifest.json``.

    Raises:
        ExportError: when ``directory`` cannot be made or written.
    """
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create the export folder {str(folder)!r}: {error}") from None
    rows = pair_rows(verdict, pairs_per_bucket)
    preference = [preference_row(row, conversational=conversational) for row in rows]
    meta = [meta_row(index, row) for index, row in enumerate(rows)]
    targets = target_rows(verdict)
    _write_jsonl(folder / "pairs.jsonl", preference)
    _write_jsonl(folder / "pairs_meta.jsonl", meta)
    _write_jsonl(folder / "targets.jsonl", targets)
    files: dict[str, Any] = {
        "pairs": _entry("pairs.jsonl", PAIRS_FORMAT, len(preference)),
        "pairs_meta": _entry("pairs_meta.jsonl", PAIRS_FORMAT, len(meta)),
        "targets": _entry("targets.jsonl", TARGETS_FORMAT, len(targets)),
    }
    files["pairs"]["style"] = "conversational" if conversational else "standard"
    reward, skipped = _export_reward_model(verdict, folder)
    if reward is not None:
        files["reward_model"] = reward
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "pytest_bbi": __version__,
        "nodeid": None if nodeid is None else redact(nodeid),
        "decision": verdict.decision,
        "passed": verdict.passed,
        "mode": verdict.mode,
        "epsilon": verdict.epsilon,
        "alpha": verdict.alpha,
        "seed": verdict.seed,
        "teacher": None if verdict.teacher is None else redact(verdict.teacher),
        "student": None if verdict.student is None else redact(verdict.student),
        "files": files,
        "reward_model_skipped": skipped,
    }
    _write_text(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _entry(path: str, format_name: str, rows: int) -> dict[str, Any]:
    return {"path": path, "format": format_name, "version": EXPORT_VERSION, "rows": rows}


def _export_reward_model(
    verdict: Verdict, folder: Path
) -> tuple[dict[str, Any] | None, str | None]:
    """Save the best pairwise discriminator; return its manifest entry, or why there is none."""
    played = verdict.played
    if played is None:
        return None, "the verdict carries no played pairs (it was not made in this process)"
    cells = [
        (adversary.lower, adversary.advantage, bucket, name)
        for bucket, result in verdict.buckets.items()
        for name, adversary in result.adversaries.items()
        if name in FEATURIZERS
        and isinstance(played.adversaries.get(name), PairwiseAdversary)
        and adversary.total > 0
        and not adversary.timed_out
        and played.buckets[bucket].train
    ]
    if not cells:
        return None, (
            f"no learned pairwise adversary ({', '.join(FEATURIZERS)}) played with training pairs"
        )
    _, _, bucket, name = max(cells, key=lambda cell: (cell[0], cell[1], cell[2], cell[3]))
    adversary = played.adversaries[name]
    assert isinstance(adversary, PairwiseAdversary)  # checked when the cells were listed
    result = verdict.buckets[bucket].adversaries[name]
    details = {
        "bucket": redact(bucket),
        "adversary": name,
        "held_out_correct": str(result.correct),
        "held_out_total": str(result.total),
        "advantage_lower": repr(result.lower),
        "teacher": redact(verdict.teacher or ""),
        "student": redact(verdict.student or ""),
        "seed": str(verdict.seed),
        "pytest_bbi": __version__,
    }
    train = played.buckets[bucket].train
    rule = adversary.fit_rule([LabeledPair(p.prompt, p.teacher, p.student) for p in train])
    target = folder / "reward_model.safetensors"
    featurizer = _atomically(target, lambda path: save_reward_model(path, adversary, rule, details))
    entry = {
        "path": target.name,
        "format": REWARD_FORMAT,
        "version": REWARD_VERSION,
        "bucket": details["bucket"],
        "adversary": name,
        "held_out_correct": result.correct,
        "held_out_total": result.total,
        "featurizer": featurizer.name,
        "featurizer_identity": featurizer.identity,
    }
    return entry, None


def _atomically(target: Path, write: Callable[[Path], Any]) -> Any:
    """Call ``write`` on a temporary file beside ``target``, then move it into place."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        result = write(temporary)
        os.replace(temporary, target)
    except OSError as error:
        raise ExportError(f"cannot write {str(target)!r}: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return result


def _write_text(target: Path, text: str) -> None:
    _atomically(target, lambda path: path.write_text(text, encoding="utf-8"))


def _write_jsonl(target: Path, rows: Iterable[dict[str, Any]]) -> None:
    _write_text(target, "".join(json.dumps(row, ensure_ascii=True) + "\n" for row in rows))


def write_index(directory: str | Path, exports: Iterable[dict[str, Any]], seed: int) -> Path:
    """Write the session's ``index.json``: one entry per exported verdict, by node id.

    Args:
        directory: the export folder.
        exports: each export's ``nodeid``, ``folder``, ``decision``, ``passed`` and the test's
            ``outcome``.
        seed: the run seed.

    Returns:
        The index file's path.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    entries = sorted(exports, key=lambda entry: (str(entry["nodeid"]), str(entry["folder"])))
    index = {
        "format": INDEX_FORMAT,
        "version": EXPORT_VERSION,
        "pytest_bbi": __version__,
        "seed": seed,
        "exports": entries,
    }
    target = folder / "index.json"
    _write_text(target, json.dumps(index, indent=2, sort_keys=True, ensure_ascii=True) + "\n")
    return target
