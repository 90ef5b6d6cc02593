"""The generation cache: completions stored on disk by (model identity, prompt, seed)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
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

_T = TypeVar("_T")


class _Unusable(Exception):
    """The cache file cannot be used as it is; the message says why, for the warning."""


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


def _storable(text: str) -> bool:
    """Whether SQLite can store ``text``: strings with lone surrogates are not valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


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


def _create_schema(connection: sqlite3.Connection) -> str | None:
    connection.execute("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT)")
    connection.execute(
        "INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(CACHE_FORMAT_VERSION),)
    )
    connection.execute(
        "CREATE TABLE IF NOT EXISTS completions(key TEXT PRIMARY KEY, model TEXT, "
        "completion TEXT NOT NULL, checksum TEXT NOT NULL)"
    )
    row = connection.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
    return None if row is None else str(row[0])


def _connect(path: str) -> sqlite3.Connection:
    """Open the cache file, creating its tables, and check that this version can use it.

    Raises:
        _Unusable: the file fails its integrity check or has another format.
        sqlite3.DatabaseError: the file is not a database, or is corrupt beyond opening.
    """
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            details = " ".join(" ".join(problems).split())
            raise _Unusable(f"failed its integrity check ({details:.200})")
        version = _transaction(connection, _create_schema)
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
def _recovery_lock(path: str) -> Iterator[None]:
    """Hold a lock file while moving the cache aside, so processes recover one at a time.

    A lock older than ``STALE_LOCK_SECONDS`` was left by a killed process and is broken.
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
    try:
        yield
    finally:
        os.remove(path)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


class GenerationCache:
    """Completions on disk, in one SQLite file shared by every process that opens the directory.

    A completion is a pure function of (model identity, decoding settings, prompt, sample index,
    role, run seed); the identity covers the decoding settings and the seed encodes the rest, so
    rows are keyed by a hash of (format version, identity, prompt, seed). Rows are written only
    once generation has returned, each with a checksum of its key and completion: a row whose
    checksum does not match reads as missing and is deleted.

    The file runs in WAL mode with short transactions and waits (then retries with backoff)
    while another process holds the write lock, so pytest-xdist workers can share one
    directory. A file that is not a database, fails its integrity check or was written in
    another format is moved aside to ``generations.sqlite3.corrupt-<n>`` with a
    :class:`~pytest_bbi.errors.BbiWarning`, and an empty cache replaces it.

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
            BbiError: the file stays unusable after being moved aside repeatedly.
            sqlite3.OperationalError: the file cannot be opened (permissions, disk errors), or
                stayed locked by another process for longer than the retry limit.
        """
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(os.fspath(directory), FILENAME)
        self._lock = threading.Lock()
        self._connection, self._opened = self._open()

    def _open(self) -> tuple[sqlite3.Connection, os.stat_result | None]:
        reason = ""
        for _ in range(_OPEN_ATTEMPTS):
            opened = _stat(self.path)
            try:
                return _retrying(lambda: _connect(self.path)), _stat(self.path)
            except _Unusable as problem:
                reason = str(problem)
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as error:
                reason = f"could not be read ({error})"
            self._move_aside(reason, opened)
        raise BbiError(
            f"the generation cache {self.path} {reason}, again after being moved aside "
            f"{_OPEN_ATTEMPTS} times; delete the cache directory or pass another one."
        )

    def _move_aside(self, reason: str, opened: os.stat_result | None) -> None:
        """Move the unusable file aside, unless another process already replaced it."""
        with _recovery_lock(self.path + ".recovering"):
            current = _stat(self.path)
            if current is None or opened is None or not os.path.samestat(current, opened):
                return
            target = _reserve(self.path)
            # The side files go first: a process opening the path in between must never pair
            # an empty new database with the old write-ahead log.
            for suffix in _SIDE_FILES:
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path + suffix, target + suffix)
            os.replace(self.path, target)
        warnings.warn(
            f"pytest-bbi: the generation cache {self.path} {reason}; it was moved to {target} "
            "and an empty cache replaces it, so completions will be generated again.",
            BbiWarning,
            stacklevel=4,
        )

    def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``operation`` on the connection; rebuild the cache once if the file is corrupt."""
        with self._lock:
            try:
                return _retrying(lambda: operation(self._connection))
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as error:
                self._connection.close()
                self._move_aside(f"could not be read ({error})", self._opened)
                self._connection, self._opened = self._open()
            return _retrying(lambda: operation(self._connection))

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

        A completion that is not valid UTF-8 (a lone surrogate) cannot be stored and is skipped,
        so it is generated again next time.

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
        rows = [
            (key, identity, completion, _checksum(key, completion))
            for key, completion in zip(keys, completions, strict=True)
            if _storable(completion)
        ]
        if rows and _storable(identity):
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
        for key, completion, checksum in connection.execute(
            f"SELECT key, completion, checksum FROM completions WHERE key IN ({placeholders})",
            chunk,
        ):
            if isinstance(completion, str) and checksum == _checksum(key, completion):
                found[key] = completion
            else:
                damaged.append((key, completion, checksum))
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
