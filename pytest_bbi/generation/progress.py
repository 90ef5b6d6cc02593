"""Generation progress: a cache fill reported as a :mod:`pytest_bbi.progress` phase."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pytest_bbi import progress


class ProgressFile:
    """Reports how far one process's generations have got, as phases ``generating <model>``.

    :class:`~pytest_bbi.generation.cached_model.CachedModel` calls :meth:`update` as
    completions arrive; each fill (one ``started`` time per model) is one phase, ended when
    ``done`` reaches ``total``. Nothing is written when this process does not report progress
    (``--bbi-progress=off``, or outside a pytest session).

    Args:
        folder: the progress folder; the plugin makes it the session's, which is where
            phases are written.
        process: a name for the process; phases carry the name the plugin gave it.
    """

    def __init__(self, folder: Path, process: str) -> None:
        self.folder = folder
        self.process = process
        self._phases: dict[tuple[str, float], progress.Phase] = {}
        self._lock = threading.Lock()

    def update(self, model: str, done: int, total: int, started: float) -> None:
        """Record that ``done`` of ``total`` completions of ``model`` exist since ``started``."""
        if not progress.reporting():
            return
        key = (model, started)
        with self._lock:
            fill = self._phases.get(key)
            if fill is None:
                fill = progress.Phase(
                    f"generating {model}", total, "completions", elapsed=time.time() - started
                )
                self._phases[key] = fill
            fill.set_done(done)
            if done >= total:
                fill.finish()
                del self._phases[key]
