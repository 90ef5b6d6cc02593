"""The feature cache: embeddings and scores of texts, computed once and stored beside completions.

A feature of a text (a sentence embedding, a model's log-probability of a completion, its token
log-probabilities) is a pure function of the text and of what produced it (the encoder, the
scoring model). :class:`FeatureCache` stores each one in the generation cache's SQLite file,
keyed by a hash of the producer's identity, the kind of feature and the text, so the file's
integrity rules hold for features as for completions: checksummed rows (a row that fails its
checksum reads as missing and is computed again), a damaged file moved aside and salvaged row
by row, every xdist worker sharing the file, ``--bbi-no-cache`` and ``--bbi-cache-clear``.

Each producer's computation of one kind is serialized across processes by a lock file, and the
cache is read again under it, so a feature is computed once per cache however many workers ask
for it. The wait for the lock is setup, not counted against any adversary's safety limit.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence

from filelock import FileLock

from pytest_bbi.generation.cache import GenerationCache
from pytest_bbi.models.uncounted import uncounted

__all__ = ["FeatureCache", "computation_lock", "count", "tally"]

_LOCKS: dict[str, FileLock] = {}
_LOCKS_GUARD = threading.Lock()
_TALLY_GUARD = threading.Lock()
_READ: Counter[str] = Counter()
_COMPUTED: Counter[str] = Counter()


def computation_lock(cache: GenerationCache, kind: str, identity: str) -> FileLock:
    """The lock serializing ``kind`` of computation by one producer across processes.

    One lock object per lock file in each process: it is reentrant in a thread, so a model that
    hands work to another cached model of the same identity (a proxy) does not wait for itself,
    and, thread-local, it still keeps two threads apart.

    Args:
        cache: the cache; the lock file lies in its folder.
        kind: what is computed (``generate``, ``scores``, ``embedding``, ...).
        identity: the producer's identity (a model's, the encoder's).
    """
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    path = os.path.join(os.path.dirname(cache.path), f"{kind}-{digest[:16]}.lock")
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, FileLock(path))


def count(kind: str, *, read: int = 0, computed: int = 0) -> None:
    """Add to this process's tally of ``kind`` features read from a cache and computed.

    Args:
        kind: the kind of feature.
        read: how many were answered by the cache.
        computed: how many were computed (with a cache or without one).
    """
    with _TALLY_GUARD:
        _READ[kind] += read
        _COMPUTED[kind] += computed


def tally() -> dict[str, dict[str, int]]:
    """This process's features so far, per kind: how many were read and how many computed.

    Returns:
        E.g. ``{"embedding": {"read": 96, "computed": 0}}``; kinds never asked are absent.
    """
    with _TALLY_GUARD:
        return {
            kind: {"read": _READ[kind], "computed": _COMPUTED[kind]}
            for kind in sorted(set(_READ) | set(_COMPUTED))
        }


class FeatureCache:
    """Features of texts, read from and written to a generation cache's file.

    Rows are stored under the producer's identity, a NUL and the kind, keyed by the text (a JSON
    pair for a (prompt, completion) feature), with seed 0; each value is a ``str`` (JSON, or
    base64 for a vector). Scores and token log-probabilities of a
    :class:`~pytest_bbi.generation.cached_model.CachedModel` use the same keys, so a cache
    written before this class existed still answers them.

    Args:
        store: the generation cache whose file holds the features.

    Attributes:
        store: the generation cache.
    """

    def __init__(self, store: GenerationCache) -> None:
        self.store = store

    def through(
        self,
        kind: str,
        producer: str,
        keys: Sequence[str],
        compute: Callable[[list[str]], Sequence[str]],
    ) -> list[str]:
        """Per key its stored feature, computing only the missing ones, each distinct key once.

        The missing keys are handed to ``compute`` in one call, in their first order, and its
        answers are stored in one transaction before they are returned. Under the lock of
        (``kind``, ``producer``) the cache is read again first, so what another process
        computed meanwhile is read, not computed.

        Args:
            kind: the kind of feature, e.g. ``"embedding"`` or ``"scores"``.
            producer: the identity of what computes it (the encoder's, the model's).
            keys: the texts (or serialized pairs) whose features are wanted.
            compute: given the missing keys, returns one value per key.

        Returns:
            One value per key, in order.

        Raises:
            ValueError: when ``compute`` returns a different number of values.
        """
        identity = f"{producer}\x00{kind}"
        known = self._read(identity, keys)
        missing = [key for key, value in known.items() if value is None]
        if missing:
            lock = computation_lock(self.store, kind, identity)
            with uncounted():
                lock.acquire()
            try:
                known = self._read(identity, keys)
                missing = [key for key, value in known.items() if value is None]
                if missing:
                    values = [str(value) for value in compute(missing)]
                    if len(values) != len(missing):
                        raise ValueError(
                            f"computing {kind} features gave {len(values)} values for "
                            f"{len(missing)} texts"
                        )
                    self.store.put_many(identity, missing, [0] * len(missing), values)
                    known.update(zip(missing, values, strict=True))
            finally:
                lock.release()
        count(kind, read=len(known) - len(missing), computed=len(missing))
        return [str(known[key]) for key in keys]

    def _read(self, identity: str, keys: Sequence[str]) -> dict[str, str | None]:
        distinct = list(dict.fromkeys(keys))
        stored = self.store.get_many(identity, distinct, [0] * len(distinct))
        return dict(zip(distinct, stored, strict=True))

    def __repr__(self) -> str:
        return f"FeatureCache({self.store!r})"
