"""File digests remembered in the machine's model cache: read back, never served for new bytes."""

import os
import pathlib

import pytest

from pytest_bbi.models import machine_cache
from pytest_bbi.models.weights import model_identity, weight_files


def _refuse() -> str:
    raise AssertionError("hashed again: the remembered digest was not used")


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    """Each test starts as a new process would: nothing remembered in memory."""
    monkeypatch.setattr(machine_cache, "_remembered", {})


def test_a_digest_is_remembered_in_the_cache_folder_for_the_next_process(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x" * 1000)
    digest = machine_cache.remembered_digest("demo", [weights], lambda: "a" * 64, tmp_path)
    (memo,) = tmp_path.glob("demo-*.sha256")
    assert memo.read_text() == digest == "a" * 64
    machine_cache._remembered.clear()
    assert machine_cache.remembered_digest("demo", [weights], _refuse, tmp_path) == digest
    # Another kind of digest of the same files is remembered apart.
    assert machine_cache.remembered_digest("other", [weights], lambda: "b" * 64, tmp_path) == (
        "b" * 64
    )


def test_a_damaged_memo_is_hashed_again(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x")
    machine_cache.remembered_digest("demo", [weights], lambda: "a" * 64, tmp_path)
    (memo,) = tmp_path.glob("demo-*.sha256")
    memo.write_text("not a digest")
    machine_cache._remembered.clear()
    assert machine_cache.remembered_digest("demo", [weights], lambda: "c" * 64, tmp_path) == (
        "c" * 64
    )


def test_bytes_rewritten_with_the_same_size_and_time_are_hashed_again(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"before")
    stat = weights.stat()
    machine_cache.remembered_digest("demo", [weights], lambda: "a" * 64, tmp_path)
    weights.write_bytes(b"after!")  # same size
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old modification time
    machine_cache._remembered.clear()
    assert machine_cache.remembered_digest("demo", [weights], lambda: "d" * 64, tmp_path) == (
        "d" * 64
    )


def test_an_unwritable_cache_only_costs_the_hashing(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert machine_cache.remembered_digest("demo", [weights], lambda: "e" * 64, blocked) == (
        "e" * 64
    )


def test_a_models_identity_reads_no_weights_in_a_later_process(
    tiny_teacher_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv(machine_cache.MODEL_CACHE_ENV, str(tmp_path))
    files = weight_files(tiny_teacher_dir)
    first = model_identity(tiny_teacher_dir, files, "t=1")
    machine_cache._remembered.clear()
    opened = pathlib.Path.open

    def open_no_weights(path, *args, **kwargs):
        assert path.suffix != ".safetensors", f"{path.name} was read again"
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", open_no_weights)
    assert model_identity(tiny_teacher_dir, files, "t=1") == first
