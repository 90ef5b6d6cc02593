"""The cache's SQLite file: opening it safely, noticing a moved file, salvaging a damaged one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from pytest_bbi.errors import BbiError

CACHE_FORMAT_VERSION = 1
"""The layout of the cache file; a file of another version is moved aside, not read."""
CHUNK = 500
"""Rows read or written per SQL statement."""
BUSY_TIMEOUT_SECONDS = 30.0
RETRY_SECONDS = 120.0
STALE_LOCK_SECONDS = 10.0
SIDE_FILES = ("-wal", "-shm")
OPEN_ATTEMPTS = 5
COLUMNS = ["key", "model", "completion", "checksum"]
MIN_ROW_BYTES = 64
"""Every stored row takes more than this (its hex key alone does): bounds the rowids to probe."""
FIX = "pass another directory with --bbi-cache-dir, or run without a cache with --bbi-no-cache"

_T = TypeVar("_T")


class Unusable(Exception):
    """The cache file cannot be used as it is; the message says why, for the warning."""


class Vanished(Exception):
    """The cache file disappeared while being opened (another process moved it aside)."""


def digest(*parts: str) -> str:
    """SHA-256 of ``parts``, each length-prefixed so no two lists of parts collide."""
    hasher = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        hasher.update(len(encoded).to_bytes(8, "big"))
        hasher.update(encoded)
    return hasher.hexdigest()


def checksum(key: str, completion: str) -> str:
    """The checksum stored beside a row, verified whenever it is read."""
    return digest("checksum", key, completion)


def storable(text: str) -> str | bytes:
    r"""What SQLite stores for ``text``: the text itself, or its bytes when it is not Unicode.

    SQLite's text type holds valid UTF-8 only, so a ``str`` with a surrogate code point (a lone
    ``\ud800``, which a server's JSON can produce) is stored as a blob of its UTF-8 bytes with
    the surrogates kept (``surrogatepass``): lossless, and read back by :func:`stored_text`.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def stored_text(stored: object) -> str | None:
    """The ``str`` a stored value stands for (see :func:`storable`), or ``None`` if none."""
    if isinstance(stored, str):
        return stored
    if isinstance(stored, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            return stored.decode("utf-8", "surrogatepass")
    return None


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds a lock (try again)."""
    code = getattr(error, "sqlite_errorcode", 0)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def retrying(operation: Callable[[], _T]) -> _T:
    """Run ``operation``, retrying with backoff while another process holds the database."""
    deadline = time.monotonic() + RETRY_SECONDS
    delay = 0.01
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 1.0)


def transaction(connection: sqlite3.Connection, body: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``body`` in one write transaction, taking the write lock at once."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = body(connection)
    except BaseException:
        connection.rollback()
        raise
    connection.commit()
    return result


def create_schema(connection: sqlite3.Connection) -> None:
    """Create the cache's tables and record its format version."""
    connection.execute("CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT)")
    connection.execute(
        "INSERT INTO meta VALUES ('format_version', ?)", (str(CACHE_FORMAT_VERSION),)
    )
    connection.execute(
        "CREATE TABLE completions(key TEXT PRIMARY KEY, model TEXT, "
        "completion TEXT NOT NULL, checksum TEXT NOT NULL)"
    )


def file_uri(path: str, mode: str) -> str:
    """An SQLite URI for ``path``: ``mode`` ``rw`` never creates the file, ``rwc`` may."""
    return f"{pathlib.Path(path).absolute().as_uri()}?mode={mode}"


def open_sqlite(path: str, mode: str) -> sqlite3.Connection:
    """A connection to the file at ``path`` in SQLite URI ``mode`` (``rw``, ``rwc``, ``ro``)."""
    return sqlite3.connect(
        file_uri(path, mode),
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
    )


def create_file(path: str) -> None:
    """Create an empty cache file with its tables; call it holding the recovery lock.

    Every process creates the file under that lock, so a file seen without its tables while
    the lock is free was not made by pytest-bbi (or was emptied since) and is reported.
    """
    connection = open_sqlite(path, "rwc")
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        transaction(connection, create_schema)
    finally:
        connection.close()


def connect(path: str) -> sqlite3.Connection:
    """Open an existing cache file and check that this version can use it.

    Raises:
        Vanished: the file is gone (another process moved it aside meanwhile).
        Unusable: the file is empty, has no cache tables, fails its integrity check or has
            another format.
        sqlite3.DatabaseError: the file is not a database, or is corrupt beyond opening.
        sqlite3.OperationalError: the file cannot be opened (permissions, disk errors), or
            stayed locked by another process.
    """
    try:
        connection = open_sqlite(path, "rw")
    except sqlite3.OperationalError:
        if stat_of(path) is None:
            raise Vanished() from None
        raise
    try:
        found = stat_of(path)
        if found is not None and found.st_size == 0:
            raise Unusable("is empty (0 bytes)")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            details = " ".join(" ".join(problems).split())
            raise Unusable(f"failed its integrity check ({details:.200})")
        tables = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"meta", "completions"} <= tables:
            listed = ", ".join(sorted(tables)) or "none"
            raise Unusable(f"holds no pytest-bbi cache tables (its tables: {listed})")
        row = connection.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
        version = None if row is None else str(row[0])
        if version != str(CACHE_FORMAT_VERSION):
            if version is not None and version.isdigit() and int(version) > CACHE_FORMAT_VERSION:
                raise Unusable(
                    f"was written by a newer pytest-bbi (cache format {version}; this version "
                    f"reads format {CACHE_FORMAT_VERSION})"
                )
            raise Unusable(f"has an unknown cache format ({version!r})")
        columns = [str(row[1]) for row in connection.execute("PRAGMA table_info(completions)")]
        if columns != COLUMNS:
            raise Unusable(f"has an unexpected completions table (columns {columns})")
    except BaseException:
        connection.close()
        raise
    return connection


def still_unusable(path: str) -> bool:
    """Whether the file at ``path`` is still unusable (checked again, under the lock)."""
    try:
        retrying(lambda: connect(path)).close()
    except Vanished:
        return False
    except Unusable:
        return True
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        return True
    return False


def reserve(path: str) -> str:
    """Claim the first free ``<path>.corrupt-<n>`` name by creating it exclusively."""
    number = 1
    while True:
        target = f"{path}.corrupt-{number}"
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            number += 1
            continue
        return target


@contextlib.contextmanager
def recovery_lock(path: str) -> Iterator[Callable[[], None]]:
    """Hold a lock file while creating or moving the cache, so processes do it one at a time.

    A lock older than ``STALE_LOCK_SECONDS`` was left by a killed process and is broken; the
    holder calls the yielded function during long work to keep the lock fresh.
    """
    while True:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            lock = stat_of(path)
            if lock is not None and time.time() - lock.st_mtime > STALE_LOCK_SECONDS:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            time.sleep(0.05)

    def keep_fresh() -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    try:
        yield keep_fresh
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def await_recovery(lock: str) -> None:
    """Wait while another process creates, moves aside or salvages the cache file."""
    while True:
        held = stat_of(lock)
        if held is None or time.time() - held.st_mtime > STALE_LOCK_SECONDS:
            return
        time.sleep(0.05)


def stat_of(path: str) -> os.stat_result | None:
    """``os.stat(path)``, or None when nothing is there."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def prepare(directory: str, path: str) -> None:
    """Create the cache directory; refuse a path that cannot hold the cache, saying why.

    Raises:
        BbiError: naming the path, the problem and the fix.
    """
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise BbiError(
            f"the cache directory {directory} is a file, not a directory; {FIX}."
        ) from None
    except OSError as error:
        raise BbiError(
            f"the cache directory {directory} cannot be created ({error.strerror or error}); {FIX}."
        ) from None
    found = stat_of(path)
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise BbiError(
            f"the generation cache {path} is a directory, not a file; remove it (pytest-bbi "
            f"creates the file) or {FIX}."
        )
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise BbiError(
            f"the generation cache {path} is not a regular file; remove it (pytest-bbi creates "
            f"the file) or {FIX}."
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BbiError(
            f"the cache directory {directory} is not writable, and SQLite writes the cache and "
            f"its journal there; make it writable or {FIX}."
        )


def readable_rows(
    connection: sqlite3.Connection, last: int
) -> Iterator[tuple[object, object, object, object]]:
    """Every row of the completions table that can still be read, in rowid order.

    A damaged page raises when a scan reaches it; the scan then resumes at the first rowid
    after ``start`` from which reading works again (found by galloping, then bisecting), so
    only the rows on damaged pages are lost.
    """
    scan = "SELECT rowid, key, model, completion, checksum FROM completions WHERE rowid >= ? "
    start = 1
    while start <= last:
        try:
            for rowid, key, model, completion, recorded in connection.execute(
                scan + "ORDER BY rowid", (start,)
            ):
                start = int(rowid) + 1
                yield key, model, completion, recorded
            return
        except sqlite3.DatabaseError:
            start = next_readable(connection, start + 1, last)


def next_readable(connection: sqlite3.Connection, start: int, last: int) -> int:
    """The smallest rowid ≥ ``start`` (roughly) from which a scan can read a first row."""

    def readable(rowid: int) -> bool:
        try:
            connection.execute(
                "SELECT rowid, completion FROM completions WHERE rowid >= ? ORDER BY rowid LIMIT 1",
                (rowid,),
            ).fetchall()
        except sqlite3.DatabaseError:
            return False
        return True

    if readable(start):
        return start
    step, low = 1, start
    while low + step <= last and not readable(low + step):
        low += step
        step *= 2
    high = min(low + step, last + 1)
    while high - low > 1:  # low is unreadable; high is readable or past the end
        middle = (low + high) // 2
        if readable(middle):
            high = middle
        else:
            low = middle
    return high


def salvage(source: str, target: str, keep_fresh: Callable[[], None]) -> int:
    """Copy every row of ``source`` that can be read and verified into ``target``.

    A row is verified by its checksum. A file of another cache format gives nothing (its keys
    would never be asked). Returns the number of rows copied.
    """
    try:
        damaged = open_sqlite(source, "rw")
    except sqlite3.Error:
        return 0
    copied = 0
    try:
        with contextlib.suppress(sqlite3.DatabaseError):
            row = damaged.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
            if row is not None and str(row[0]) != str(CACHE_FORMAT_VERSION):
                return 0
        try:
            last = int(damaged.execute("SELECT max(rowid) FROM completions").fetchone()[0] or 0)
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0
            last = os.path.getsize(source) // MIN_ROW_BYTES + 1
        except sqlite3.DatabaseError:
            last = os.path.getsize(source) // MIN_ROW_BYTES + 1
        fresh = open_sqlite(target, "rw")
        try:
            batch: list[tuple[str, object, object, str]] = []
            for key, model, stored, recorded in readable_rows(damaged, last):
                completion = stored_text(stored)
                if (
                    isinstance(key, str)
                    and isinstance(recorded, str)
                    and completion is not None
                    and recorded == checksum(key, completion)
                ):
                    batch.append((key, model, stored, recorded))
                if len(batch) == CHUNK:
                    copied += insert_rows(fresh, batch)
                    keep_fresh()
                    batch = []
            copied += insert_rows(fresh, batch)
        finally:
            fresh.close()
    finally:
        damaged.close()
    return copied


def insert_rows(connection: sqlite3.Connection, rows: list[tuple[str, object, object, str]]) -> int:
    """Insert ``rows`` (key, model, stored text, checksum), keeping existing keys; the count."""
    if not rows:
        return 0
    transaction(
        connection,
        lambda c: c.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?)", rows),
    )
    return len(rows)


def select_rows(connection: sqlite3.Connection, keys: list[str]) -> dict[str, str]:
    """Read the intact rows among ``keys``, deleting rows whose checksum does not match."""
    found: dict[str, str] = {}
    damaged: list[tuple[str, object, object]] = []
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        placeholders = ", ".join("?" * len(chunk))
        for key, stored, recorded in connection.execute(
            f"SELECT key, completion, checksum FROM completions WHERE key IN ({placeholders})",
            chunk,
        ):
            completion = stored_text(stored)
            if completion is not None and recorded == checksum(key, completion):
                found[key] = completion
            else:
                damaged.append((key, stored, recorded))
    if damaged:
        transaction(
            connection,
            lambda c: c.executemany(
                "DELETE FROM completions WHERE key = ? AND completion IS ? AND checksum IS ?",
                damaged,
            ),
        )
    return found
