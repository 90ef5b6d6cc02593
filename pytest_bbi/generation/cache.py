"""The generation cache: completions stored on disk by (model identity, prompt, seed)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import warnings
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

from pytest_bbi.errors import BbiError, BbiWarning
from pytest_bbi.generation.store import (
    CACHE_FORMAT_VERSION,
    FIX,
    OPEN_ATTEMPTS,
    RETRY_SECONDS,
    SIDE_FILES,
    Unusable,
    Vanished,
    await_recovery,
    checksum,
    connect,
    create_file,
    digest,
    is_busy,
    prepare,
    recovery_lock,
    reserve,
    retrying,
    salvage,
    select_rows,
    stat_of,
    still_unusable,
    storable,
    transaction,
)

_T = TypeVar("_T")

FILENAME = "generations.sqlite3"


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
    return digest(str(CACHE_FORMAT_VERSION), identity, prompt, str(seed))


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
        prepare(self._folder, self.path)  # again on reopening: the folder may have been removed
        reason = ""
        for _ in range(OPEN_ATTEMPTS):
            await_recovery(self.path + ".recovering")
            before = stat_of(self.path)
            if before is None:
                with recovery_lock(self.path + ".recovering"):
                    if stat_of(self.path) is None:
                        self._guarded(lambda: create_file(self.path))
                continue
            try:
                connection = self._guarded(lambda: retrying(lambda: connect(self.path)))
            except Vanished:
                continue
            except Unusable as problem:
                reason = str(problem)
            except sqlite3.DatabaseError as error:
                reason = f"could not be read ({error})"
            else:
                after = stat_of(self.path)
                if after is not None and os.path.samestat(before, after):
                    return connection, after
                connection.close()  # replaced while opening: open the new file
                continue
            self._move_aside(reason, before, recheck=True)
        raise BbiError(
            f"the generation cache {self.path} {reason or 'kept changing while being opened'}, "
            f"again after being moved aside {OPEN_ATTEMPTS} times; delete the cache directory "
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
            if is_busy(error):
                problem = (
                    f"stayed locked by another process for over {RETRY_SECONDS:.0f} s ({error}); "
                    "check for a hung pytest process using the same cache directory, or"
                )
            else:
                problem = (
                    f"cannot be opened ({error}); check that it is a readable and writable "
                    "SQLite file in a writable directory on a local disk, or"
                )
            raise BbiError(f"the generation cache {self.path} {problem} {FIX}.") from error

    def _move_aside(self, reason: str, opened: os.stat_result | None, *, recheck: bool) -> None:
        """Move the unusable file aside and salvage its rows, unless another process did.

        Under the recovery lock nothing happens when another process has replaced the file
        already, nor, with ``recheck``, when the file passes the checks this time (a process
        was creating it, which it does holding the same lock).
        """
        with recovery_lock(self.path + ".recovering") as keep_fresh:
            current = stat_of(self.path)
            if current is None or opened is None or not os.path.samestat(current, opened):
                return
            if recheck and not self._guarded(lambda: still_unusable(self.path)):
                return
            target = reserve(self.path)
            # The side files go first: a process opening the path in between must never pair
            # an empty new database with the old write-ahead log.
            for suffix in SIDE_FILES:
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path + suffix, target + suffix)
            os.replace(self.path, target)
            self._guarded(lambda: create_file(self.path))
            copied = self._guarded(lambda: salvage(target, self.path, keep_fresh))
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
        current = stat_of(self.path)
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
                result = retrying(lambda: operation(self._connection))
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as error:
                self._connection.close()
                self._move_aside(f"could not be read ({error})", self._opened, recheck=False)
                self._connection, self._opened = self._open()
                return retrying(lambda: operation(self._connection))
            if self._moved():
                self._reopen()
                result = retrying(lambda: operation(self._connection))
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
        found = self._run(lambda connection: select_rows(connection, list(dict.fromkeys(keys))))
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
        model = storable(identity)
        rows = [
            (key, model, storable(completion), checksum(key, completion))
            for key, completion in zip(keys, completions, strict=True)
        ]
        if rows:
            self._run(
                lambda connection: transaction(
                    connection,
                    lambda c: c.executemany(
                        "INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?)", rows
                    ),
                )
            )

    def clear(self) -> None:
        """Delete every stored completion."""
        self._run(
            lambda connection: transaction(
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
