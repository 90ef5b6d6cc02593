"""The generation cache: hits skip generation, damage is detected, processes share one file."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
from scripted import PROMPTS, teacher_fn

from pytest_bbi.errors import BbiWarning, ModelOutputError
from pytest_bbi.generation.cache import FILENAME, GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.generation.seeding import derive_seed
from pytest_bbi.models import Model, from_callable

SEEDS = [derive_seed(0, "teacher", prompt) for prompt in PROMPTS]


def counting_model(name="teacher"):
    """A scripted batched model that records every batch it is asked."""
    calls = []

    def generate(prompts, seeds):
        calls.append(list(zip(prompts, seeds, strict=True)))
        return [teacher_fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]

    return from_callable(generate, name=name, batched=True), calls


def expected(prompts, seeds):
    return [teacher_fn(prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)]


def run_python(code, *args):
    """Start ``code`` in a fresh interpreter (the cache must work across processes)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=60):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def corrupt_files(directory):
    return sorted(name for name in os.listdir(directory) if ".corrupt-" in name)


def test_round_trip_persists_across_instances(tmp_path):
    with GenerationCache(tmp_path) as cache:
        assert len(cache) == 0
        cache.put_many("m", ["a", "b", "a"], [1, 2, 3], ["x", "", "z\x00é"])
        cache.put_many("m", ["a"], [1], ["ignored: the first write is kept"])
        assert cache.get_many("m", ["a", "b", "a", "a"], [1, 2, 3, 4]) == ["x", "", "z\x00é", None]
        assert cache.get_many("other", ["a"], [1]) == [None]
        assert len(cache) == 3
    with GenerationCache(tmp_path) as cache:
        assert cache.get_many("m", ["b"], [2]) == [""]
        cache.clear()
        assert len(cache) == 0
        assert cache.get_many("m", ["b"], [2]) == [None]


def test_mismatched_lengths_are_refused(tmp_path):
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(ValueError, match="zip"):
            cache.get_many("m", ["a", "b"], [1])
        with pytest.raises(ValueError, match="zip"):
            cache.put_many("m", ["a"], [1], ["x", "y"])


ODD_TEXTS = [
    "lone \ud800 surrogate",
    "trailing \udfff",
    "a pair as two code points \ud83d\ude00",
    "\x00 nul, \ufffe, \U0010ffff and é",
    "",
]


def test_any_str_is_stored_and_read_back_exactly(tmp_path):
    # Text with surrogates is not valid UTF-8, so SQLite cannot hold it as text: it is stored
    # losslessly as bytes, and an identity with a surrogate is fine too.
    prompts = [f"p{index}" for index in range(len(ODD_TEXTS))]
    seeds = list(range(len(ODD_TEXTS)))
    with GenerationCache(tmp_path) as cache:
        for identity in ("m", "model \udc80"):
            cache.put_many(identity, prompts, seeds, ODD_TEXTS)
    with GenerationCache(tmp_path) as cache:
        for identity in ("m", "model \udc80"):
            assert cache.get_many(identity, prompts, seeds) == ODD_TEXTS
        assert len(cache) == 2 * len(ODD_TEXTS)


def test_cached_model_generates_only_misses_and_warm_runs_generate_nothing(tmp_path):
    model, calls = counting_model()
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(model, cache)
        assert isinstance(cached, Model)
        assert (cached.name, cached.identity) == (model.name, model.identity)
        first = cached.generate(PROMPTS[:10], SEEDS[:10])
        assert first == expected(PROMPTS[:10], SEEDS[:10])
        assert (cached.hits, cached.misses, len(calls)) == (0, 10, 1)

        cold = cached.generate(PROMPTS, SEEDS)
        assert len(calls) == 2
        assert calls[1] == list(zip(PROMPTS[10:], SEEDS[10:], strict=True))
        assert (cached.hits, cached.misses) == (10, len(PROMPTS))

    model, calls = counting_model()
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(model, cache)
        warm = cached.generate(PROMPTS, SEEDS)
    assert warm == cold == expected(PROMPTS, SEEDS)
    assert calls == []
    assert (cached.hits, cached.misses) == (len(PROMPTS), 0)


def test_cached_model_generates_each_distinct_pair_once_in_order(tmp_path):
    model, calls = counting_model()
    prompts = ["b", "a", "b", "a", "b"]
    seeds = [1, 1, 1, 2, 1]
    with GenerationCache(tmp_path) as cache:
        cached = CachedModel(model, cache)
        assert cached.generate(prompts, seeds) == expected(prompts, seeds)
    assert calls == [[("b", 1), ("a", 1), ("a", 2)]]
    assert (cached.hits, cached.misses) == (0, 3)


def test_cached_model_keeps_models_apart_and_forwards_attributes(tmp_path):
    teacher, _ = counting_model("teacher")
    student = from_callable(lambda prompt, seed: "student says hi", name="student")
    student.score = lambda prompts, completions: [0.0] * len(prompts)
    with GenerationCache(tmp_path) as cache:
        assert CachedModel(teacher, cache).generate(["p"], [1]) == [teacher_fn("p", 1)]
        cached_student = CachedModel(student, cache)
        assert cached_student.generate(["p"], [1]) == ["student says hi"]
        assert cached_student.score(["p"], ["x"]) == [0.0]
        with pytest.raises(AttributeError):
            cached_student.no_such_attribute  # noqa: B018


def test_a_wrong_answer_is_refused_and_not_stored(tmp_path):
    broken = from_callable(lambda prompts, seeds: ["one"], name="broken", batched=True)
    with GenerationCache(tmp_path) as cache:
        with pytest.raises(ModelOutputError, match="2 prompts"):
            CachedModel(broken, cache).generate(["a", "b"], [1, 2])
        assert len(cache) == 0


def test_a_garbage_file_is_moved_aside_and_rebuilt(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"this is not a database " * 100)
    with pytest.warns(BbiWarning, match=r"could not be read.*moved to .*corrupt-1"):
        cache = GenerationCache(tmp_path)
    with cache:
        assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]
        assert (tmp_path / f"{FILENAME}.corrupt-1").read_bytes().startswith(b"this is not")
        model, _ = counting_model()
        assert CachedModel(model, cache).generate(PROMPTS, SEEDS) == expected(PROMPTS, SEEDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with GenerationCache(tmp_path) as cache:
            assert len(cache) == len(PROMPTS)


def fill(directory, rows=2000):
    """Store ``rows`` completions; return the file's size once the last connection is closed."""
    with GenerationCache(directory) as cache:
        prompts = [f"prompt {index}" for index in range(rows)]
        cache.put_many("m", prompts, list(range(rows)), ["completion " * 40] * rows)
    return os.path.getsize(directory / FILENAME)


def test_damaged_pages_fail_the_integrity_check_at_open(tmp_path):
    size = fill(tmp_path)
    with open(tmp_path / FILENAME, "r+b") as file:
        file.seek(3 * 4096)
        file.write(b"\xa5" * (size - 3 * 4096))
    with pytest.warns(BbiWarning, match="failed its integrity check"):
        cache = GenerationCache(tmp_path)
    with cache:
        assert len(cache) == 0
    assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]


def test_damage_found_while_querying_rebuilds_the_cache(tmp_path):
    with GenerationCache(tmp_path) as cache:
        fill(tmp_path)
        connection = sqlite3.connect(tmp_path / FILENAME)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        size = os.path.getsize(tmp_path / FILENAME)
        with open(tmp_path / FILENAME, "r+b") as file:
            file.seek(3 * 4096)
            file.write(b"\xa5" * (size - 3 * 4096))
        with pytest.warns(BbiWarning, match="malformed"):
            assert cache.get_many("m", ["prompt 5"], [5]) == [None]
        cache.put_many("m", ["prompt 5"], [5], ["again"])
        assert cache.get_many("m", ["prompt 5"], [5]) == ["again"]
    assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]


def test_a_tampered_row_reads_as_missing_and_is_regenerated(tmp_path):
    model, calls = counting_model()
    with GenerationCache(tmp_path) as cache:
        CachedModel(model, cache).generate(PROMPTS[:5], SEEDS[:5])
    connection = sqlite3.connect(tmp_path / FILENAME)
    with connection:
        changed = connection.execute(
            "UPDATE completions SET completion = 'tampered' WHERE completion = ?",
            (teacher_fn(PROMPTS[2], SEEDS[2]),),
        ).rowcount
    connection.close()
    assert changed == 1
    with GenerationCache(tmp_path) as cache:
        assert cache.get_many(model.identity, PROMPTS[:5], SEEDS[:5])[2] is None
        assert len(cache) == 4
        cached = CachedModel(model, cache)
        assert cached.generate(PROMPTS[:5], SEEDS[:5]) == expected(PROMPTS[:5], SEEDS[:5])
        assert calls[-1] == [(PROMPTS[2], SEEDS[2])]
        assert (cached.hits, cached.misses, len(cache)) == (4, 1, 5)


def test_a_newer_format_is_moved_aside_with_a_warning(tmp_path):
    fill(tmp_path, rows=10)
    connection = sqlite3.connect(tmp_path / FILENAME)
    with connection:
        connection.execute("UPDATE meta SET value = '99' WHERE name = 'format_version'")
    connection.close()
    with pytest.warns(BbiWarning, match=r"written by a newer pytest-bbi \(cache format 99"):
        cache = GenerationCache(tmp_path)
    with cache:
        assert len(cache) == 0
        cache.put_many("m", ["a"], [1], ["x"])
    assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]
    with GenerationCache(tmp_path) as cache:
        assert cache.get_many("m", ["a"], [1]) == ["x"]


WRITER = """
    import random, sys
    from pytest_bbi.generation.cache import GenerationCache

    directory, worker = sys.argv[1], int(sys.argv[2])
    keys = list(range(400))
    random.Random(worker).shuffle(keys)
    with GenerationCache(directory) as cache:
        for start in range(0, len(keys), 10):
            batch = keys[start : start + 10] + keys[:3]
            cache.put_many(
                "m", [f"p{k}" for k in batch], batch, [f"completion {k}" * 20 for k in batch]
            )
            found = cache.get_many("m", [f"p{k}" for k in batch], batch)
            assert found == [f"completion {k}" * 20 for k in batch], found
"""


def test_concurrent_processes_share_one_file_without_losing_rows(tmp_path):
    writers = [run_python(WRITER, tmp_path, worker) for worker in range(4)]
    for writer in writers:
        finish(writer)
    with GenerationCache(tmp_path) as cache:
        assert len(cache) == 400
        keys = list(range(400))
        found = cache.get_many("m", [f"p{k}" for k in keys], keys)
        assert found == [f"completion {k}" * 20 for k in keys]


OPENER = """
    import sys, warnings
    from pytest_bbi.generation.cache import GenerationCache

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with GenerationCache(sys.argv[1]) as cache:
            cache.put_many("m", [sys.argv[2]], [0], ["done"])
    print(len(caught))
"""


def test_processes_opening_a_garbage_file_at_once_move_it_aside_once(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"garbage" * 1000)
    openers = [run_python(OPENER, tmp_path, worker) for worker in range(4)]
    warned = sum(int(finish(opener)) for opener in openers)
    assert warned == 1
    assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]
    with GenerationCache(tmp_path) as cache:
        assert cache.get_many("m", ["0", "1", "2", "3"], [0] * 4) == ["done"] * 4


LONG_WRITER = """
    import sys
    from pytest_bbi.generation.cache import GenerationCache

    with GenerationCache(sys.argv[1]) as cache:
        for start in range(0, 1_000_000, 50):
            keys = range(start, start + 50)
            cache.put_many("m", [f"p{k}" for k in keys], list(keys), [f"c{k}" * 50 for k in keys])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_a_writer_killed_mid_series_leaves_only_intact_rows(tmp_path):
    writer = run_python(LONG_WRITER, tmp_path)
    deadline = time.monotonic() + 30
    while not (tmp_path / FILENAME).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    with GenerationCache(tmp_path) as watcher:
        while len(watcher) < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert writer.poll() is None, writer.communicate()[1]
    os.kill(writer.pid, signal.SIGKILL)
    writer.communicate()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = GenerationCache(tmp_path)
    with cache:
        present = len(cache)
        assert present >= 2000
        assert present % 50 == 0
        keys = list(range(present + 500))
        prompts = [f"p{k}" for k in keys]
        found = cache.get_many("m", prompts, keys)
        assert found == [f"c{k}" * 50 for k in keys[:present]] + [None] * 500
        assert len(cache) == present

        model = from_callable(lambda prompt, seed: f"c{seed}" * 50, name="m")
        model.identity = "m"
        cached = CachedModel(model, cache)
        assert cached.generate(prompts, keys) == [f"c{k}" * 50 for k in keys]
        assert (cached.hits, cached.misses, len(cache)) == (present, 500, present + 500)
