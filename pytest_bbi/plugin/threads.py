"""How many native threads each xdist worker runs: the machine's cores shared among the workers."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables that size the thread pools of torch (OpenMP), OpenBLAS and MKL (and of the
ONNX Runtime sentence encoder, which reads ``OMP_NUM_THREADS``)."""


def share_cores(
    workers: int, environ: MutableMapping[str, str] | None = None, cores: int | None = None
) -> int | None:
    """Give each of ``workers`` processes an equal share of the cores, through the environment.

    Every library sizes its pool to the whole machine, so N workers run N times as many threads
    as there are cores; their pools then spin and wait on each other (on a busy two-core machine a
    small solver fit ran 36x slower). Workers inherit the controller's environment when they
    start, so setting the variables before they start sizes every pool they create. A variable
    the user set wins: if any of :data:`THREAD_VARIABLES` is set, nothing changes.

    Args:
        workers: the xdist worker processes about to start.
        environ: the environment to change; ``os.environ`` by default.
        cores: the CPU cores this process may use; those of ``os.sched_getaffinity`` by default.

    Returns:
        The threads per worker set, or ``None`` when nothing was changed (one worker, or the
        user's own setting).
    """
    environ = os.environ if environ is None else environ
    if workers < 2 or any(name in environ for name in THREAD_VARIABLES):
        return None
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    for name in THREAD_VARIABLES:
        environ[name] = str(threads)
    return threads
