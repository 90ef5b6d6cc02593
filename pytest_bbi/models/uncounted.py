"""Setup time no safety limit counts: loading models and encoders, waiting on another process.

An adversary's safety limit t bounds its own compute. A model or encoder that loads lazily, on
the first cache miss that needs it, loads inside the adversary's turn, and so does a wait for
another process that is computing the same features; neither is the adversary's work.
:class:`~pytest_bbi.adversaries.Deadline` subtracts the time spent inside :func:`uncounted`
(and :func:`loading`) in its process while it runs.

Loads are also counted, per process (:func:`loads`), so a test can show that a warm rerun loads
nothing, and each is logged at debug level on the ``pytest_bbi.models.uncounted`` logger.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

__all__ = ["loading", "loads", "seconds_uncounted", "uncounted"]

_log = logging.getLogger(__name__)
_guard = threading.Lock()
_seconds = 0.0
_loaded: list[str] = []
_nesting = threading.local()


@contextlib.contextmanager
def uncounted() -> Iterator[None]:
    """Time the block as setup: no adversary's safety limit in this process counts it.

    Blocks nest (a load inside a wait counts once): only the outermost block of a thread adds
    its time.
    """
    global _seconds
    depth = getattr(_nesting, "depth", 0)
    _nesting.depth = depth + 1
    start = time.perf_counter()
    try:
        yield
    finally:
        _nesting.depth = depth
        if depth == 0:
            spent = time.perf_counter() - start
            with _guard:
                _seconds += spent


@contextlib.contextmanager
def loading(what: str) -> Iterator[None]:
    """Load ``what`` (a model's weights, an encoder) in the block: counted, logged, uncounted.

    Args:
        what: a name for the log line and :func:`loads`, e.g. the model's name.
    """
    start = time.perf_counter()
    with uncounted():
        yield
    with _guard:
        _loaded.append(what)
    _log.debug("pytest-bbi: loaded %s in %.2f s", what, time.perf_counter() - start)


def loads() -> tuple[str, ...]:
    """What this process has loaded so far (through :func:`loading`), in order."""
    with _guard:
        return tuple(_loaded)


def seconds_uncounted() -> float:
    """Seconds this process has spent inside :func:`uncounted` blocks so far."""
    with _guard:
        return _seconds
