"""Progress of long phases: any process reports a phase, the pytest controller prints its lines.

A *phase* is a stretch of work that may take more than a few seconds: converting a checkpoint,
building or distilling a student, starting a server, generating completions, training an
adversary, a Hypothesis search. Code reports one with :func:`phase`::

    from pytest_bbi.progress import phase

    with phase("distilling the student", total=len(batches), unit="batches") as step:
        for batch in batches:
            train_on(batch)
            step.advance()

Inside a pytest session with progress on (``--bbi-progress``), each process writes the phase's
state to a small file in a folder the plugin names, and one watcher thread in the controller
(or the only process) prints lines to the terminal, under ``-n`` as without it: the first once
the phase has run a few seconds, then one now and then, with a rate and, when ``total`` is
known, the time left, and a last line when it ends. Quick phases print nothing. Outside a
session, or with progress off, a phase costs a counter and prints nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pytest_bbi.processes import alive

__all__ = ["Phase", "phase", "reporting"]

FIRST_LINE_SECONDS = 5.0
"""No phase gets a line before it has run this long, whatever the cadence."""

_WRITE_SECONDS = 0.5
"""A running phase's record is rewritten at most this often (its start and end always are)."""

_SUFFIX = ".progress.json"


def _now() -> float:
    """Seconds since the epoch: the one clock of every record and of the watcher."""
    return time.time()


@dataclass(frozen=True)
class _Sink:
    folder: Path
    process: str


_sink: _Sink | None = None
_numbers = itertools.count()


def configure(folder: Path | None, process: str = "main") -> None:
    """Report this process's phases as files in ``folder`` (the plugin calls it), or not at all.

    Args:
        folder: the session's progress folder, watched by the controller; ``None`` turns
            reporting off in this process.
        process: a name for the process in file names, e.g. the xdist worker id.
    """
    global _sink
    if folder is None:
        _sink = None
        return
    folder.mkdir(parents=True, exist_ok=True)
    _sink = _Sink(folder, process)


def reporting() -> bool:
    """Whether this process reports phases (a pytest session with progress on)."""
    return _sink is not None


class Phase:
    """A phase in progress, as :func:`phase` yields it; safe to advance from several threads.

    Attributes:
        name: what the phase does, as the progress line shows it.
        total: how many units the phase will do, if known.
        unit: what is counted, e.g. ``"completions"``.
        done: how many units are done so far.
    """

    def __init__(
        self, name: str, total: int | None = None, unit: str = "steps", *, elapsed: float = 0.0
    ) -> None:
        """Start reporting the phase (see :func:`phase`).

        Args:
            name: what the phase does.
            total: how many units it will do, if known.
            unit: what a unit is.
            elapsed: seconds the work had already run before the phase object was made.

        Raises:
            ValueError: when ``total`` is negative.
        """
        if total is not None and total < 0:
            raise ValueError(f"phase {name!r}: total={total!r} must be >= 0 or None")
        self.name = name
        self.total = total
        self.unit = unit
        self.done = 0
        self._lock = threading.Lock()
        self._sink = _sink
        self._path: Path | None = None
        if self._sink is not None:
            number = next(_numbers)
            self._path = self._sink.folder / f"{self._sink.process}-{os.getpid()}-{number}{_SUFFIX}"
        self._started = _now() - elapsed
        self._written = -float("inf")
        self._write(state="running")

    def advance(self, units: int = 1) -> None:
        """Count ``units`` more units done (the line shows them against ``total``)."""
        with self._lock:
            self.done += units
            if _now() - self._written >= _WRITE_SECONDS:
                self._write(state="running")

    def set_done(self, done: int) -> None:
        """Set how many units are done, e.g. when another counter already knows."""
        with self._lock:
            self.done = done
            if _now() - self._written >= _WRITE_SECONDS:
                self._write(state="running")

    def finish(self, failed: bool = False) -> None:
        """End the phase (:func:`phase` does it on leaving its block); a quick one leaves nothing.

        Args:
            failed: whether the phase ended with an error (its last line says it stopped).
        """
        with self._lock:
            if self._path is None:
                return
            if _now() - self._started < FIRST_LINE_SECONDS:
                with contextlib.suppress(OSError):
                    self._path.unlink()
            else:
                self._write(state="failed" if failed else "finished")
            self._path = None

    def _write(self, state: str) -> None:
        if self._path is None:
            return
        now = _now()
        self._written = now
        record = {
            "name": self.name,
            "unit": self.unit,
            "done": self.done,
            "total": self.total,
            "started": self._started,
            "updated": now,
            "state": state,
            "pid": os.getpid(),
        }
        partial = self._path.with_name(f".{self._path.name}.partial")
        with contextlib.suppress(OSError):
            partial.write_text(json.dumps(record))
            os.replace(partial, self._path)

    def __enter__(self) -> Phase:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish(failed=kind is not None)


def phase(name: str, total: int | None = None, *, unit: str = "steps") -> Phase:
    """Report a phase that may take more than a few seconds, as a context manager.

    Use it in your own ``conftest.py`` code too (building, quantizing or distilling a student):
    inside a pytest session its lines appear in the terminal beside the plugin's own, printed
    once by the controller under ``-n``. Call :meth:`Phase.advance` as units complete; without
    a ``total`` the line shows the units done and the time spent.

    Args:
        name: what the phase does, e.g. ``"distilling the student"``.
        total: how many units it will do, for the rate and the time left; ``None`` if unknown.
        unit: what a unit is, e.g. ``"batches"``.

    Returns:
        The :class:`Phase`; leaving the ``with`` block ends it.

    Raises:
        ValueError: when ``total`` is negative.
    """
    return Phase(name, total, unit)


@dataclass(frozen=True)
class Cadence:
    """How often the watcher prints lines about one phase.

    Attributes:
        first: seconds a phase runs before its first line (at least
            :data:`FIRST_LINE_SECONDS`).
        every: seconds between two lines about a running phase.
    """

    first: float
    every: float


TERMINAL = Cadence(first=FIRST_LINE_SECONDS, every=10.0)
"""At a terminal: a line after 5 s, then every 10 s."""

LOG = Cadence(first=30.0, every=60.0)
"""Into a file or CI log: a line after 30 s, then every minute; shorter phases add nothing."""


def duration(seconds: float) -> str:
    """``"8 s"``, ``"2 min 05 s"``, ``"1 h 02 min"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _rate(done: int, seconds: float, unit: str) -> str:
    per_second = done / max(seconds, 1e-9)
    if per_second >= 0.1:
        return f"{per_second:.1f} {unit}/s"
    return f"{per_second * 60:.1f} {unit}/min"


@dataclass(frozen=True)
class Record:
    """One phase's state as its process last wrote it.

    Attributes:
        name: what the phase does.
        unit: what it counts.
        done: units done.
        total: units it will do, if known.
        started: when it started (:func:`time.time` seconds).
        updated: when the record was written.
        state: ``"running"``, ``"finished"`` or ``"failed"``.
        pid: the reporting process.
    """

    name: str
    unit: str
    done: int
    total: int | None
    started: float
    updated: float
    state: str
    pid: int

    @classmethod
    def parse(cls, data: object) -> Record | None:
        """The record a file holds, or ``None`` when it is not a valid one."""
        if not isinstance(data, dict):
            return None
        name, unit, done, total = (data.get(key) for key in ("name", "unit", "done", "total"))
        started, updated, state, pid = (
            data.get(key) for key in ("started", "updated", "state", "pid")
        )
        if not (
            isinstance(name, str)
            and isinstance(unit, str)
            and isinstance(done, int)
            and (total is None or isinstance(total, int))
            and isinstance(started, int | float)
            and isinstance(updated, int | float)
            and state in ("running", "finished", "failed")
            and isinstance(pid, int)
        ):
            return None
        return cls(name, unit, done, total, float(started), float(updated), str(state), pid)

    def elapsed(self, now: float) -> float:
        """Seconds the phase has run (until ``now``), or ran in all once it ended."""
        return (now if self.state == "running" else self.updated) - self.started


def describe(record: Record, now: float) -> str:
    """The progress line of one phase record at time ``now``.

    Examples: ``bbi: generating teacher: 120/400 completions (30.0 completions/s, about 9 s
    left)``, ``bbi: starting the vLLM server for the teacher: 45 s so far``, ``bbi: distilling
    the student: 48/48 batches in 6 min 30 s (0.1 batches/s)``.
    """
    name, unit, done, total = record.name, record.unit, record.done, record.total
    elapsed = record.elapsed(now)
    count = f"{done}/{total} {unit}" if total is not None else f"{done} {unit}"
    if record.state == "failed":
        return f"bbi: {name}: stopped after {duration(elapsed)} ({count})"
    if record.state == "finished":
        if not done:
            return f"bbi: {name}: done in {duration(elapsed)}"
        return f"bbi: {name}: {count} in {duration(elapsed)} ({_rate(done, elapsed, unit)})"
    if not done:
        return f"bbi: {name}: {duration(elapsed)} so far"
    left = ""
    if total is not None and total > done:
        left = f", about {duration((total - done) * elapsed / done)} left"
    return f"bbi: {name}: {count} ({_rate(done, elapsed, unit)}{left})"


class ProgressWatcher:
    """A daemon thread in the controller (or the only process) that prints the phases' lines.

    It polls the progress folder. A phase gets its first line once it has run
    ``cadence.first`` seconds; a running one another line every ``cadence.every`` seconds (one
    with a total only when it advanced); an ended one that had a line, or ran past
    ``cadence.first``, gets a last line. Each record is read from its file, and the file is
    removed once the phase ended (or its process is gone), so every line is printed once.

    Args:
        folder: the session's progress folder.
        write_line: prints one line to the terminal.
        cadence: when lines are due.
        poll: seconds between two looks at the folder.
    """

    def __init__(
        self,
        folder: Path,
        write_line: Callable[[str], None],
        cadence: Cadence = TERMINAL,
        poll: float = 0.25,
    ) -> None:
        self._folder = folder
        self._write_line = write_line
        self._cadence = cadence
        self._poll = poll
        self._stop = threading.Event()
        self._printed: dict[str, tuple[float, int]] = {}
        self._thread = threading.Thread(target=self._run, name="bbi-progress", daemon=True)

    def start(self) -> None:
        """Remove records an earlier session left, then start watching."""
        for stale in self._folder.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, print what is due, and remove every record left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.check()
        for left in self._folder.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                left.unlink()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self.check()

    def check(self) -> None:
        """Look at the folder once and print the lines that are due."""
        now = _now()
        for path in sorted(self._folder.glob(f"*{_SUFFIX}")):
            try:
                record = Record.parse(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
            if record is None:
                continue
            line = self._due(path.name, record, now)
            if line is not None:
                self._write_line(line)
            if record.state != "running" or not alive(record.pid):
                self._printed.pop(path.name, None)
                with contextlib.suppress(OSError):
                    path.unlink()

    def _due(self, key: str, record: Record, now: float) -> str | None:
        printed = self._printed.get(key)
        if record.state != "running":
            due = printed is not None or record.elapsed(now) >= self._cadence.first
            return describe(record, now) if due else None
        if printed is None:
            if record.elapsed(now) < self._cadence.first:
                return None
        else:
            printed_at, printed_done = printed
            if now - printed_at < self._cadence.every:
                return None
            if record.total is not None and record.done == printed_done:
                return None
        self._printed[key] = (now, record.done)
        return describe(record, now)
