"""Generation progress: each process reports to a small file; one watcher prints to the terminal."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import threading
import time
from collections.abc import Callable

_SUFFIX = ".progress.json"


class ProgressFile:
    """Where one process reports how far its current generation has got.

    Writes are atomic (write then rename) so the watcher never reads half a record.

    Args:
        folder: the shared progress folder (inside the generation cache folder).
        process: a name unique to the process, e.g. the xdist worker id.
    """

    def __init__(self, folder: pathlib.Path, process: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._path = folder / f"{process}{_SUFFIX}"
        self._partial = folder / f".{process}{_SUFFIX}.partial"

    def update(self, model: str, done: int, total: int, started: float) -> None:
        """Record that ``done`` of ``total`` completions of ``model`` exist since ``started``."""
        record = {
            "model": model,
            "done": done,
            "total": total,
            "started": started,
            "updated": time.time(),
        }
        with contextlib.suppress(OSError):
            self._partial.write_text(json.dumps(record))
            os.replace(self._partial, self._path)


def describe(model: str, done: int, total: int, seconds: float) -> str:
    """One terminal line, e.g. ``bbi: generating teacher: 120/400 completions (35.2/s)``."""
    rate = done / max(seconds, 1e-9)
    return f"bbi: generating {model}: {done}/{total} completions ({rate:.1f}/s)"


class ProgressWatcher:
    """A daemon thread in the controller (or serial process) that prints new progress lines.

    It polls the progress folder and prints a record once its generation has run for
    ``interval`` seconds, then whenever it changed and ``interval`` seconds passed since the
    last line, and once more when it reaches its total; quick generations print nothing.

    Args:
        folder: the shared progress folder.
        write_line: prints one line to the terminal.
        interval: the least seconds between two lines about the same model.
        poll: seconds between two looks at the folder.
    """

    def __init__(
        self,
        folder: pathlib.Path,
        write_line: Callable[[str], None],
        interval: float = 5.0,
        poll: float = 0.5,
    ) -> None:
        self._folder = folder
        self._write_line = write_line
        self._interval = interval
        self._poll = poll
        self._stop = threading.Event()
        self._last_printed: dict[str, tuple[float, int]] = {}
        self._thread = threading.Thread(target=self._run, name="bbi-progress", daemon=True)

    def start(self) -> None:
        """Start watching (the folder need not exist yet: writers create it)."""
        for stale in self._folder.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and print what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.check()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self.check()

    def check(self) -> None:
        """Look at the folder once and print the lines that are due."""
        now = time.time()
        for path in sorted(self._folder.glob(f"*{_SUFFIX}")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict):
                continue
            model, done, total, started, updated = (
                record.get(field) for field in ("model", "done", "total", "started", "updated")
            )
            if not (
                isinstance(model, str)
                and isinstance(done, int)
                and isinstance(total, int)
                and isinstance(started, int | float)
                and isinstance(updated, int | float)
            ):
                continue
            key = f"{path.name}:{model}:{started}"
            printed_at, printed_done = self._last_printed.get(key, (0.0, -1))
            # A finished generation took (updated - started); a running one has taken until now.
            elapsed = (updated if done == total else now) - started
            due = (done == total and printed_done >= 0) or now - printed_at >= self._interval
            if elapsed >= self._interval and done != printed_done and due:
                self._last_printed[key] = (now, done)
                self._write_line(describe(model, done, total, elapsed))
