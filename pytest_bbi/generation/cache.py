"""The generation cache: completions stored on disk by (model identity, prompt, seed)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import sqlite3
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from filelock import FileLock

from pytest_bbi.errors import BbiError, BbiWarning, ModelOutputError
from pytest_bbi.generation.progress import ProgressFile
from pytest_bbi.models.base import (
    AnswerCallback,
    IncrementalModel,
    Model,
    check_completion,
    check_completions,
    check_token_log_probs,
    hide_when_backend_error,
    ignore_answers,
)

CACHE_FORMAT_VERSION = 1
FILENAME = "generations.sqlite3"
BUSY_TIMEOUT_SECONDS = 30.0
RETRY_SECONDS = 120.0
STALE_LOCK_SECONDS = 10.0
_SIDE_FILES = ("-wal", "-shm")
_CHUNK = 500
_OPEN_ATTEMPTS = 5
_COLUMNS = ["key", "model", "completion", "checksum"]
_MIN_ROW_BYTES = 64
"""Every stored row takes more than this (its hex key alone does): bounds the rowids to probe."""
_FIX = "pass another directory with --bbi-cache-dir, or run without a cache with --bbi-no-cache"

_T = TypeVar("_T")


class _Unusable(Exception):
    """The cache file cannot be used as it is; the message says why, for the warning."""


class _Vanished(Exception):
    """The cache file disappeared while being opened (another process moved it aside)."""


def cache_key(identity: str, prompt: str, seed: int) -> str:
    """The key of one completion.

    The plugin derives each seed from (run seed, role, prompt, sample index), so together with
    the model's identity (which covers its decoding settings) the key names a pure function's
    argument: the same key always has the same completion.

    Args:
        identity: the model's identity.
        prompt: the prompt.
        seed: the seed the completion is drawn with.

    Returns:
        A SHA-256 hex digest over the cache format version, the identity, the prompt and the seed.
    """
    return _digest(str(CACHE_FORMAT_VERSION), identity, prompt, str(seed))


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def _checksum(key: str, completion: str) -> str:
    return _digest("checksum", key, completion)


def _storable(text: str) -> str | bytes:
    r"""What SQLite stores for ``text``: the text itself, or its bytes when it is not Unicode.

    SQLite's text type holds valid UTF-8 only, so a ``str`` with a surrogate code point (a lone
    ``\ud800``, which a server's JSON can produce) is stored as a blob of its UTF-8 bytes with
    the surrogates kept (``surrogatepass``): lossless, and read back by :func:`_text`.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _text(stored: object) -> str | None:
    """The ``str`` a stored value stands for (see :func:`_storable`), or ``None`` if none."""
    if isinstance(stored, str):
        return stored
    if isinstance(stored, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            return stored.decode("utf-8", "surrogatepass")
    return None


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", 0)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _retrying(operation: Callable[[], _T]) -> _T:
    """Run ``operation``, retrying with backoff while another process holds the database."""
    deadline = time.monotonic() + RETRY_SECONDS
    delay = 0.01
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 1.0)


def _transaction(connection: sqlite3.Connection, body: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``body`` in one write transaction, taking the write lock at once."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = body(connection)
    except BaseException:
        connection.rollback()
        raise
    connection.commit()
    return result


def _create_schema(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT)")
    connection.execute(
        "INSERT INTO meta VALUES ('format_version', ?)", (str(CACHE_FORMAT_VERSION),)
    )
    connection.execute(
        "CREATE TABLE completions(key TEXT PRIMARY KEY, model TEXT, "
        "completion TEXT NOT NULL, checksum TEXT NOT NULL)"
    )


def _uri(path: str, mode: str) -> str:
    """An SQLite URI for ``path``: ``mode`` ``rw`` never creates the file, ``rwc`` may."""
    return f"{pathlib.Path(path).absolute().as_uri()}?mode={mode}"


def _sqlite(path: str, mode: str) -> sqlite3.Connection:
    return sqlite3.connect(
        _uri(path, mode),
        uri=True,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
    )


def _create(path: str) -> None:
    """Create an empty cache file with its tables; call it holding the recovery lock.

    Every process creates the file under that lock, so a file seen without its tables while
    the lock is free was not made by pytest-bbi (or was emptied since) and is reported.
    """
    connection = _sqlite(path, "rwc")
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        _transaction(connection, _create_schema)
    finally:
        connection.close()


def _connect(path: str) -> sqlite3.Connection:
    """Open an existing cache file and check that this version can use it.

    Raises:
        _Vanished: the file is gone (another process moved it aside meanwhile).
        _Unusable: the file is empty, has no cache tables, fails its integrity check or has
            another format.
        sqlite3.DatabaseError: the file is not a database, or is corrupt beyond opening.
        sqlite3.OperationalError: the file cannot be opened (permissions, disk errors), or
            stayed locked by another process.
    """
    try:
        connection = _sqlite(path, "rw")
    except sqlite3.OperationalError:
        if _stat(path) is None:
            raise _Vanished() from None
        raise
    try:
        found = _stat(path)
        if found is not None and found.st_size == 0:
            raise _Unusable("is empty (0 bytes)")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            details = " ".join(" ".join(problems).split())
            raise _Unusable(f"failed its integrity check ({details:.200})")
        tables = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"meta", "completions"} <= tables:
            listed = ", ".join(sorted(tables)) or "none"
            raise _Unusable(f"holds no pytest-bbi cache tables (its tables: {listed})")
        row = connection.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
        version = None if row is None else str(row[0])
        if version != str(CACHE_FORMAT_VERSION):
            if version is not None and version.isdigit() and int(version) > CACHE_FORMAT_VERSION:
                raise _Unusable(
                    f"was written by a newer pytest-bbi (cache format {version}; this version "
                    f"reads format {CACHE_FORMAT_VERSION})"
                )
            raise _Unusable(f"has an unknown cache format ({version!r})")
        columns = [str(row[1]) for row in connection.execute("PRAGMA table_info(completions)")]
        if columns != _COLUMNS:
            raise _Unusable(f"has an unexpected completions table (columns {columns})")
    except BaseException:
        connection.close()
        raise
    return connection


def _still_unusable(path: str) -> bool:
    """Whether the file at ``path`` is still unusable (checked again, under the lock)."""
    try:
        _retrying(lambda: _connect(path)).close()
    except _Vanished:
        return False
    except _Unusable:
        return True
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        return True
    return False


def _reserve(path: str) -> str:
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
def _recovery_lock(path: str) -> Iterator[Callable[[], None]]:
    """Hold a lock file while creating or moving the cache, so processes do it one at a time.

    A lock older than ``STALE_LOCK_SECONDS`` was left by a killed process and is broken; the
    holder calls the yielded function during long work to keep the lock fresh.
    """
    while True:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            lock = _stat(path)
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


def _await_recovery(lock: str) -> None:
    """Wait while another process creates, moves aside or salvages the cache file."""
    while True:
        held = _stat(lock)
        if held is None or time.time() - held.st_mtime > STALE_LOCK_SECONDS:
            return
        time.sleep(0.05)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _prepare(directory: str, path: str) -> None:
    """Create the cache directory; refuse a path that cannot hold the cache, saying why.

    Raises:
        BbiError: naming the path, the problem and the fix.
    """
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise BbiError(
            f"the cache directory {directory} is a file, not a directory; {_FIX}."
        ) from None
    except OSError as error:
        raise BbiError(
            f"the cache directory {directory} cannot be created ({error.strerror or error}); "
            f"{_FIX}."
        ) from None
    found = _stat(path)
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise BbiError(
            f"the generation cache {path} is a directory, not a file; remove it (pytest-bbi "
            f"creates the file) or {_FIX}."
        )
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise BbiError(
            f"the generation cache {path} is not a regular file; remove it (pytest-bbi creates "
            f"the file) or {_FIX}."
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BbiError(
            f"the cache directory {directory} is not writable, and SQLite writes the cache and "
            f"its journal there; make it writable or {_FIX}."
        )


def _readable_rows(
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
            for rowid, key, model, completion, checksum in connection.execute(
                scan + "ORDER BY rowid", (start,)
            ):
                start = int(rowid) + 1
                yield key, model, completion, checksum
            return
        except sqlite3.DatabaseError:
            start = _next_readable(connection, start + 1, last)


def _next_readable(connection: sqlite3.Connection, start: int, last: int) -> int:
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


def _salvage(source: str, target: str, keep_fresh: Callable[[], None]) -> int:
    """Copy every row of ``source`` that can be read and verified into ``target``.

    A row is verified by its checksum. A file of another cache format gives nothing (its keys
    would never be asked). Returns the number of rows copied.
    """
    try:
        damaged = _sqlite(source, "rw")
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
            last = os.path.getsize(source) // _MIN_ROW_BYTES + 1
        except sqlite3.DatabaseError:
            last = os.path.getsize(source) // _MIN_ROW_BYTES + 1
        fresh = _sqlite(target, "rw")
        try:
            batch: list[tuple[str, object, object, str]] = []
            for key, model, stored, checksum in _readable_rows(damaged, last):
                completion = _text(stored)
                if (
                    isinstance(key, str)
                    and completion is not None
                    and checksum == _checksum(key, completion)
                ):
                    batch.append((key, model, stored, checksum))
                if len(batch) == _CHUNK:
                    copied += _insert(fresh, batch)
                    keep_fresh()
                    batch = []
            copied += _insert(fresh, batch)
        finally:
            fresh.close()
    finally:
        damaged.close()
    return copied


def _insert(connection: sqlite3.Connection, rows: list[tuple[str, object, object, str]]) -> int:
    if not rows:
        return 0
    _transaction(
        connection,
        lambda c: c.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?)", rows),
    )
    return len(rows)


class GenerationCache:
    """Completions on disk, in one SQLite file shared by every process that opens the directory.

    A completion is a pure function of (model identity, decoding settings, prompt, sample index,
    role, run seed); the identity covers the decoding settings and the seed encodes the rest, so
    rows are keyed by a hash of (format version, identity, prompt, seed). Rows are written only
    once generation has returned, each with a checksum of its key and completion: a row whose
    checksum does not match reads as missing and is deleted. Any ``str`` can be stored: text
    with a surrogate code point (not valid Unicode, so not SQLite text) is stored losslessly as
    a blob of its bytes.

    The file runs in WAL mode with short transactions and waits (then retries with backoff)
    while another process holds the write lock, so pytest-xdist workers can share one
    directory. A file that is empty (0 bytes), holds no cache tables, is not a database, fails
    its integrity check or was written in another format is moved aside to
    ``generations.sqlite3.corrupt-<n>`` with a :class:`~pytest_bbi.errors.BbiWarning`. A new
    cache replaces it, into which every row of a damaged file that can still be read and
    verified by its checksum is copied (rows of another format are not); the rest are
    generated again. Every operation first checks that the path still names the file it has
    open, and again after it ran: when another process has moved the file aside, the cache
    reopens the path and runs the operation again there, so no write is left in the moved file.

    The file holds model identities, hashed keys and completions, nothing else: identities must
    never contain API keys or other secrets.

    Attributes:
        path: the cache file.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Open the cache in ``directory``, creating both if needed.

        Args:
            directory: the cache directory; the file inside it is ``generations.sqlite3``.

        Raises:
            BbiError: the directory or file cannot hold the cache (a file where the directory
                should be, a directory where the file should be, no write permission, a file
                SQLite cannot open), the file stayed locked by another process for longer than
                the retry limit, or it stays unusable after being moved aside repeatedly; the
                message names the path and the fix.
        """
        self._folder = os.fspath(directory)
        self.path = os.path.join(self._folder, FILENAME)
        self._lock = threading.Lock()
        self._connection, self._opened = self._open()

    def _open(self) -> tuple[sqlite3.Connection, os.stat_result]:
        _prepare(self._folder, self.path)  # again on reopening: the folder may have been removed
        reason = ""
        for _ in range(_OPEN_ATTEMPTS):
            _await_recovery(self.path + ".recovering")
            before = _stat(self.path)
            if before is None:
                with _recovery_lock(self.path + ".recovering"):
                    if _stat(self.path) is None:
                        self._guarded(lambda: _create(self.path))
                continue
            try:
                connection = self._guarded(lambda: _retrying(lambda: _connect(self.path)))
            except _Vanished:
                continue
            except _Unusable as problem:
                reason = str(problem)
            except sqlite3.DatabaseError as error:
                reason = f"could not be read ({error})"
            else:
                after = _stat(self.path)
                if after is not None and os.path.samestat(before, after):
                    return connection, after
                connection.close()  # replaced while opening: open the new file
                continue
            self._move_aside(reason, before, recheck=True)
        raise BbiError(
            f"the generation cache {self.path} {reason or 'kept changing while being opened'}, "
            f"again after being moved aside {_OPEN_ATTEMPTS} times; delete the cache directory "
            "or pass another one with --bbi-cache-dir."
        )

    def _guarded(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``, turning SQLite's refusal to open or lock the file into a message.

        Raises:
            BbiError: when SQLite cannot open the file or it stays locked.
        """
        try:
            return operation()
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                problem = (
                    f"stayed locked by another process for over {RETRY_SECONDS:.0f} s ({error}); "
                    "check for a hung pytest process using the same cache directory, or"
                )
            else:
                problem = (
                    f"cannot be opened ({error}); check that it is a readable and writable "
                    "SQLite file in a writable directory on a local disk, or"
                )
            raise BbiError(f"the generation cache {self.path} {problem} {_FIX}.") from error

    def _move_aside(self, reason: str, opened: os.stat_result | None, *, recheck: bool) -> None:
        """Move the unusable file aside and salvage its rows, unless another process did.

        Under the recovery lock nothing happens when another process has replaced the file
        already, nor, with ``recheck``, when the file passes the checks this time (a process
        was creating it, which it does holding the same lock).
        """
        with _recovery_lock(self.path + ".recovering") as keep_fresh:
            current = _stat(self.path)
            if current is None or opened is None or not os.path.samestat(current, opened):
                return
            if recheck and not self._guarded(lambda: _still_unusable(self.path)):
                return
            target = _reserve(self.path)
            # The side files go first: a process opening the path in between must never pair
            # an empty new database with the old write-ahead log.
            for suffix in _SIDE_FILES:
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path + suffix, target + suffix)
            os.replace(self.path, target)
            self._guarded(lambda: _create(self.path))
            copied = self._guarded(lambda: _salvage(target, self.path, keep_fresh))
        kept = (
            f"{copied} intact completion{'s' if copied != 1 else ''} from it were copied into a "
            "new cache, and the others will be generated again"
            if copied
            else "an empty cache replaces it, so completions will be generated again"
        )
        warnings.warn(
            f"pytest-bbi: the generation cache {self.path} {reason}; it was moved to {target} "
            f"and {kept}.",
            BbiWarning,
            stacklevel=4,
        )

    def _moved(self) -> bool:
        """Whether the path no longer names the file this cache has open."""
        current = _stat(self.path)
        return current is None or not os.path.samestat(current, self._opened)

    def _reopen(self) -> None:
        self._connection.close()
        self._connection, self._opened = self._open()

    def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``operation`` on the cache file the path names now.

        The file is reopened first when another process moved it aside, and the operation runs
        again when that happened while it ran (operations are idempotent), so a write never
        stays in a moved file. A corrupt file is moved aside and the cache rebuilt, once.
        """
        with self._lock:
            if self._moved():
                self._reopen()
            try:
                result = _retrying(lambda: operation(self._connection))
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as error:
                self._connection.close()
                self._move_aside(f"could not be read ({error})", self._opened, recheck=False)
                self._connection, self._opened = self._open()
                return _retrying(lambda: operation(self._connection))
            if self._moved():
                self._reopen()
                result = _retrying(lambda: operation(self._connection))
            return result

    def get_many(
        self, identity: str, prompts: Sequence[str], seeds: Sequence[int]
    ) -> list[str | None]:
        """Look up completions.

        Args:
            identity: the model's identity.
            prompts: the prompts.
            seeds: one seed per prompt.

        Returns:
            Per (prompt, seed) pair, in order, its cached completion or ``None``.

        Raises:
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        keys = [
            cache_key(identity, prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)
        ]
        found = self._run(lambda connection: _select(connection, list(dict.fromkeys(keys))))
        return [found.get(key) for key in keys]

    def put_many(
        self,
        identity: str,
        prompts: Sequence[str],
        seeds: Sequence[int],
        completions: Sequence[str],
    ) -> None:
        """Store finished completions in one transaction; keys already present are kept.

        Any ``str`` is stored and read back exactly, including text with lone surrogates.

        Args:
            identity: the model's identity.
            prompts: the prompts.
            seeds: one seed per prompt.
            completions: one completion per prompt.

        Raises:
            ValueError: when the sequences differ in length.
        """
        keys = [
            cache_key(identity, prompt, seed) for prompt, seed in zip(prompts, seeds, strict=True)
        ]
        model = _storable(identity)
        rows = [
            (key, model, _storable(completion), _checksum(key, completion))
            for key, completion in zip(keys, completions, strict=True)
        ]
        if rows:
            self._run(
                lambda connection: _transaction(
                    connection,
                    lambda c: c.executemany(
                        "INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?)", rows
                    ),
                )
            )

    def clear(self) -> None:
        """Delete every stored completion."""
        self._run(
            lambda connection: _transaction(
                connection, lambda c: c.execute("DELETE FROM completions")
            )
        )

    def close(self) -> None:
        """Close the database connection; the cache cannot be used afterwards."""
        with self._lock:
            self._connection.close()

    def __len__(self) -> int:
        """The number of stored completions, intact or not."""
        return self._run(
            lambda connection: int(
                connection.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
            )
        )

    def __enter__(self) -> GenerationCache:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GenerationCache({self.path!r})"


def _select(connection: sqlite3.Connection, keys: list[str]) -> dict[str, str]:
    """Read the intact rows among ``keys``, deleting rows whose checksum does not match."""
    found: dict[str, str] = {}
    damaged: list[tuple[str, object, object]] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        placeholders = ", ".join("?" * len(chunk))
        for key, stored, checksum in connection.execute(
            f"SELECT key, completion, checksum FROM completions WHERE key IN ({placeholders})",
            chunk,
        ):
            completion = _text(stored)
            if completion is not None and checksum == _checksum(key, completion):
                found[key] = completion
            else:
                damaged.append((key, stored, checksum))
    if damaged:
        _transaction(
            connection,
            lambda c: c.executemany(
                "DELETE FROM completions WHERE key = ? AND completion IS ? AND checksum IS ?",
                damaged,
            ),
        )
    return found


class CachedModel:
    """A :class:`~pytest_bbi.models.Model` that answers from a :class:`GenerationCache` first.

    It has the wrapped model's ``name`` and ``identity`` and forwards every other attribute
    (e.g. ``score``) to it; ``token_log_probs``, when the wrapped model has it, is cached too.
    It is itself an :class:`~pytest_bbi.models.base.IncrementalModel`.

    Completions are stored as they arrive: a wrapped
    :class:`~pytest_bbi.models.base.IncrementalModel` (every built-in backend) hands each one
    over as soon as it is answered and it is committed at once, in its own short transaction,
    so a fault, an interrupt or ``kill -9`` loses only what was still being generated. Any
    other model is asked ``chunk_size`` completions at a time and each chunk is stored when
    it returns.

    Attributes:
        name: the wrapped model's name.
        identity: the wrapped model's identity.
        model: the wrapped model.
        cache: the cache.
        hits: how many completions were answered from the cache.
        misses: how many completions the wrapped model generated.
        chunk_size: the most completions asked of the wrapped model per call.
    """

    def __init__(
        self,
        model: Model,
        cache: GenerationCache,
        *,
        chunk_size: int = 64,
        progress: ProgressFile | None = None,
    ) -> None:
        """Wrap ``model`` so its completions are read from and written to ``cache``.

        Args:
            model: the model.
            cache: the cache.
            chunk_size: completions per call of the wrapped model, >= 1.
            progress: where to report generation progress, if anywhere.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size!r} must be >= 1")
        self.model = model
        self.cache = cache
        self.chunk_size = chunk_size
        self._progress = progress
        self._counting = threading.Lock()
        self.name = model.name
        self.identity = model.identity
        self.hits = 0
        self.misses = 0

    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Return one completion per prompt, generating only those the cache lacks.

        Generation of one model is serialized across processes by a lock file next to the
        cache, and the cache is read again under the lock: when several xdist workers need the
        same completions, the first generates them and the others read them, so each completion
        is generated once per cache. The wrapped model is called with the missing (prompt, seed)
        pairs in their original order, each distinct pair once, in chunks of ``chunk_size``;
        every completion is validated and stored as it arrives (see the class), so a run that
        is killed or whose server fails keeps every completion that was answered.

        Raises:
            ModelOutputError: when the wrapped model returns a wrong answer.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        __tracebackhide__ = hide_when_backend_error
        return self.generate_incrementally(prompts, seeds, ignore_answers)

    def generate_incrementally(
        self, prompts: Sequence[str], seeds: Sequence[int], on_answered: AnswerCallback
    ) -> list[str]:
        """Do what :meth:`generate` does, handing completions to ``on_answered`` as they come.

        Cached completions are handed over first, then each fresh one once it is stored.

        Raises:
            ModelOutputError: when the wrapped model returns a wrong answer.
            ValueError: when ``prompts`` and ``seeds`` differ in length.
        """
        __tracebackhide__ = hide_when_backend_error
        completions = self.cache.get_many(self.identity, prompts, seeds)
        if any(completion is None for completion in completions):
            digest = hashlib.sha256(self.identity.encode("utf-8", "surrogatepass")).hexdigest()
            lock = os.path.join(os.path.dirname(self.cache.path), f"generate-{digest[:16]}.lock")
            with FileLock(lock):
                completions = self._fill(
                    prompts,
                    seeds,
                    self.cache.get_many(self.identity, prompts, seeds),
                    on_answered,
                )
        else:
            self.hits += len(completions)
            if completions:
                on_answered(range(len(completions)), [str(text) for text in completions])
        return [completion for completion in completions if completion is not None]

    def _fill(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        completions: list[str | None],
        on_answered: AnswerCallback,
    ) -> list[str | None]:
        __tracebackhide__ = hide_when_backend_error
        positions: dict[tuple[str, int], list[int]] = {}
        for index, (prompt, seed, completion) in enumerate(
            zip(prompts, seeds, completions, strict=True)
        ):
            if completion is None:
                positions.setdefault((prompt, seed), []).append(index)
        known = [index for index, completion in enumerate(completions) if completion is not None]
        self.hits += len(known)
        if known:
            on_answered(known, [str(completions[index]) for index in known])
        missing = list(positions)  # each distinct pair once, in their original order
        if not missing:
            return completions
        fresh: dict[tuple[str, int], str] = {}
        started = time.time()

        def arrived(pairs: Sequence[tuple[str, int]], texts: Sequence[str]) -> None:
            self.cache.put_many(
                self.identity, [prompt for prompt, _ in pairs], [seed for _, seed in pairs], texts
            )
            with self._counting:
                fresh.update(zip(pairs, texts, strict=True))
                self.misses += len(texts)
                if self._progress is not None:
                    self._progress.update(self.name, len(fresh), len(missing), started)
            indices = [index for pair in pairs for index in positions[pair]]
            on_answered(
                indices,
                [text for pair, text in zip(pairs, texts, strict=True) for _ in positions[pair]],
            )

        for start in range(0, len(missing), self.chunk_size):
            self._generate_chunk(missing[start : start + self.chunk_size], arrived)
        return [
            fresh[(prompt, seed)] if completion is None else completion
            for prompt, seed, completion in zip(prompts, seeds, completions, strict=True)
        ]

    def _generate_chunk(
        self,
        chunk: list[tuple[str, int]],
        arrived: Callable[[Sequence[tuple[str, int]], Sequence[str]], None],
    ) -> None:
        """Generate one chunk, passing each completion to ``arrived`` once it is validated."""
        __tracebackhide__ = hide_when_backend_error
        chunk_prompts = [prompt for prompt, _ in chunk]
        chunk_seeds = [seed for _, seed in chunk]
        if not isinstance(self.model, IncrementalModel):
            generated = check_completions(
                self.name, chunk_prompts, self.model.generate(chunk_prompts, chunk_seeds)
            )
            arrived(chunk, generated)
            return
        reported: dict[int, str] = {}
        reporting = threading.Lock()

        def on_answered(indices: Sequence[int], texts: Sequence[str]) -> None:
            indices, texts = list(indices), list(texts)
            if len(indices) != len(texts):
                raise ModelOutputError(
                    f"model {self.name!r} handed over {len(texts)} completions for "
                    f"{len(indices)} prompt indices; on_answered takes one completion per index."
                )
            for index, text in zip(indices, texts, strict=True):
                if not (isinstance(index, int) and 0 <= index < len(chunk)):
                    raise ModelOutputError(
                        f"model {self.name!r} handed over a completion for prompt index "
                        f"{index!r} of a call with {len(chunk)} prompts."
                    )
                check_completion(self.name, index, chunk_prompts[index], text)
            with reporting:
                for index, text in zip(indices, texts, strict=True):
                    if index in reported:
                        raise ModelOutputError(
                            f"model {self.name!r} handed over prompt {index} twice; each "
                            "completion is handed over once."
                        )
                    reported[index] = text
            arrived([chunk[index] for index in indices], texts)

        generated = check_completions(
            self.name,
            chunk_prompts,
            self.model.generate_incrementally(chunk_prompts, chunk_seeds, on_answered),
        )
        changed = [index for index, text in reported.items() if generated[index] != text]
        if changed:
            raise ModelOutputError(
                f"model {self.name!r} handed over {reported[changed[0]]!r:.60} for prompt "
                f"{changed[0]} but returned {generated[changed[0]]!r:.60}; a completion handed "
                "over is final."
            )
        late = [index for index in range(len(chunk)) if index not in reported]
        if late:
            arrived([chunk[index] for index in late], [generated[index] for index in late])

    def __getattr__(self, attribute: str) -> Any:
        model = vars(self).get("model")
        if model is None:
            raise AttributeError(attribute)
        found = getattr(model, attribute)
        if attribute == "token_log_probs":
            return self._cached_token_log_probs
        return found

    def _cached_token_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str]
    ) -> list[list[float]]:
        """The wrapped model's token log-probabilities, read from and written to the cache.

        They are a pure function of (model, prompt, completion), stored in the same cache under
        a derived identity, so a rerun's calibration report loads no model either.
        """
        identity = f"{self.identity}\x00token-log-probs"
        pairs = list(zip(prompts, completions, strict=True))
        keys = [json.dumps(pair) for pair in pairs]
        known = dict(zip(keys, self.cache.get_many(identity, keys, [0] * len(keys)), strict=True))
        missing = [key for key, text in known.items() if text is None]  # each distinct pair once
        if missing:
            asked = [json.loads(key) for key in missing]
            answer = self.model.token_log_probs(  # type: ignore[attr-defined]
                [prompt for prompt, _ in asked], [completion for _, completion in asked]
            )
            texts = [
                json.dumps(row)
                for row in check_token_log_probs(self.name, [c for _, c in asked], answer)
            ]
            self.cache.put_many(identity, missing, [0] * len(missing), texts)
            known.update(zip(missing, texts, strict=True))
        return [[float(value) for value in json.loads(str(known[key]))] for key in keys]

    def __repr__(self) -> str:
        return f"CachedModel({self.model!r}, {self.cache!r})"
