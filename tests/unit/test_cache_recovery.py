"""The cache notices a file moved aside by another process, salvages damaged files row by row,
reports empty or foreign files, and names the problem and fix for paths that cannot hold it."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import warnings

import pytest
from scripted import PROMPTS, teacher_fn

from pytest_bbi.errors import BbiError, BbiWarning
from pytest_bbi.generation.cache import FILENAME, GenerationCache
from pytest_bbi.generation.cached_model import CachedModel
from pytest_bbi.models import from_callable


def python(code, *args):
    """Run ``code`` in a fresh interpreter and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


OPEN_AND_REPORT = """
    import sys, warnings
    from pytest_bbi.generation.cache import GenerationCache

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with GenerationCache(sys.argv[1]) as cache:
            rows = len(cache)
    print(rows, len(caught))
"""


def corrupt_files(directory):
    """The moved-aside cache files (without the write-ahead logs moved along with them)."""
    return sorted(
        name
        for name in os.listdir(directory)
        if name.endswith(tuple("0123456789")) and ".corrupt-" in name
    )


def test_a_process_notices_that_another_moved_the_file_aside(tmp_path):
    prompts = [f"p{index}" for index in range(100)]
    with GenerationCache(tmp_path) as cache:
        cache.put_many("m", ["before"], [0], ["stored before"])
        # The file becomes unusable for a new opener (another format), so the next process
        # to open the directory moves it aside while this one still has it open.
        raw = sqlite3.connect(tmp_path / FILENAME)
        with raw:
            raw.execute("UPDATE meta SET value = '99' WHERE name = 'format_version'")
        raw.close()
        assert python(OPEN_AND_REPORT, tmp_path).split() == ["0", "1"]
        assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]

        cache.put_many("m", prompts, range(100), [f"answer {p}" for p in prompts])
        assert cache.get_many("m", prompts[:2], [0, 1]) == ["answer p0", "answer p1"]
    # Every row written after the move is in the file the path names, for every process.
    assert python(OPEN_AND_REPORT, tmp_path).split() == ["100", "0"]


def fill(directory, rows):
    """Store ``rows`` distinct completions and close, so the file holds them all."""
    prompts = [f"prompt {index}" for index in range(rows)]
    completions = [f"completion {index} " * 5 for index in range(rows)]
    with GenerationCache(directory) as cache:
        cache.put_many("m", prompts, range(rows), completions)
    return prompts, completions


def damage_page_holding(path, text):
    """Overwrite the page that stores ``text`` with garbage; return the page size."""
    raw = sqlite3.connect(path)
    page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    raw.close()
    content = path.read_bytes()
    page = content.index(text.encode()) // page_size
    with open(path, "r+b") as file:
        file.seek(page * page_size)
        file.write(b"\xa5" * page_size)
    return page_size


def test_a_damaged_file_is_salvaged_row_by_row(tmp_path):
    prompts, completions = fill(tmp_path, 688)
    raw = sqlite3.connect(tmp_path / FILENAME)
    with raw:  # one row whose checksum no longer matches: it must not be carried over
        raw.execute(
            "UPDATE completions SET completion = 'tampered' WHERE completion = ?",
            (completions[10],),
        )
    raw.close()
    damage_page_holding(tmp_path / FILENAME, completions[344])

    with pytest.warns(BbiWarning, match="integrity check|could not be read") as caught:
        cache = GenerationCache(tmp_path)
    with cache:
        found = cache.get_many("m", prompts, range(688))
    salvaged = [index for index, text in enumerate(found) if text is not None]
    assert all(found[index] == completions[index] for index in salvaged)
    assert found[344] is None
    assert found[10] is None
    # One 4 KiB page holds a few dozen of these rows: only those are lost.
    assert 688 - 60 <= len(salvaged) < 688
    assert f"{len(salvaged)} intact completions from it were copied" in str(caught[0].message)
    assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda path: path.write_bytes(b""), r"is empty \(0 bytes\)"),
        (
            lambda path: (
                sqlite3.connect(path).execute("CREATE TABLE notes(text)").connection.close()
            ),
            r"holds no pytest-bbi cache tables \(its tables: notes\)",
        ),
    ],
    ids=["zero-bytes", "foreign-tables"],
)
def test_an_empty_or_foreign_file_is_reported_and_moved_aside(tmp_path, content, message):
    content(tmp_path / FILENAME)
    with pytest.warns(BbiWarning, match=message):
        cache = GenerationCache(tmp_path)
    with cache:
        cache.put_many("m", ["a"], [1], ["x"])
        assert cache.get_many("m", ["a"], [1]) == ["x"]
    assert corrupt_files(tmp_path) == [f"{FILENAME}.corrupt-1"]


def test_processes_creating_a_new_cache_at_once_warn_about_nothing(tmp_path):
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(OPEN_AND_REPORT), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err
        assert out.split() == ["0", "0"]
    assert corrupt_files(tmp_path) == []


def test_completions_that_are_not_unicode_are_cached(tmp_path):
    def odd(prompt, seed):
        return f"{teacher_fn(prompt, seed)} \udce9"

    model = from_callable(odd, name="odd")
    seeds = list(range(len(PROMPTS)))
    with GenerationCache(tmp_path) as cache:
        first = CachedModel(model, cache)
        cold = first.generate(PROMPTS, seeds)
    with GenerationCache(tmp_path) as cache:
        again = CachedModel(model, cache)
        warm = again.generate(PROMPTS, seeds)
    assert warm == cold == [odd(prompt, seed) for prompt, seed in zip(PROMPTS, seeds, strict=True)]
    assert (again.hits, again.misses) == (len(PROMPTS), 0)


def test_a_directory_path_that_is_a_file_names_the_fix(tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(BbiError, match=r"cache directory .*cache is a file.*--bbi-cache-dir"):
        GenerationCache(tmp_path / "cache")
    with pytest.raises(BbiError, match=r"cannot be created.*--bbi-cache-dir"):
        GenerationCache(tmp_path / "cache" / "below")


def test_a_cache_file_path_that_is_a_directory_names_the_fix(tmp_path):
    (tmp_path / FILENAME).mkdir()
    with pytest.raises(BbiError, match=rf"{FILENAME} is a directory.*--bbi-no-cache"):
        GenerationCache(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_cache_file_path_that_is_not_a_regular_file_names_the_fix(tmp_path):
    os.mkfifo(tmp_path / FILENAME)
    with pytest.raises(BbiError, match=r"is not a regular file.*--bbi-cache-dir"):
        GenerationCache(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_an_unwritable_directory_names_the_fix(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(BbiError, match=r"not writable.*--bbi-cache-dir"):
        GenerationCache(tmp_path / "locked")


def test_a_file_sqlite_cannot_open_names_the_fix(tmp_path, monkeypatch):
    # What a permission or disk problem looks like to SQLite, whoever runs the test.
    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("unable to open database file")

    fill(tmp_path, 1)
    monkeypatch.setattr(sqlite3, "connect", refuse)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(BbiError, match=r"cannot be opened \(unable to open.*--bbi-no-cache"):
            GenerationCache(tmp_path)


def test_a_removed_cache_directory_is_created_again(tmp_path):
    folder = tmp_path / "cache"
    with GenerationCache(folder) as cache:
        cache.put_many("m", ["a"], [1], ["x"])
        for name in os.listdir(folder):
            os.remove(folder / name)
        os.rmdir(folder)
        cache.put_many("m", ["b"], [2], ["y"])
        assert cache.get_many("m", ["a", "b"], [1, 2]) == [None, "y"]
