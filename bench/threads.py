"""Native thread pools on a shared machine: a learned adversary's fit, one thread against many.

The stylometric adversary's fit (liblinear on a few hundred feature differences) makes many
tiny BLAS calls. With the pools at their default size (every core), each call wakes the pool's
threads; when another process keeps the cores busy (an xdist worker, a parallel job) those
threads spin and wait for each other. This script times the same fit side by side:

* ``default``: the pools as the libraries size them (``threadpool_limits`` lifted);
* ``one``: one thread (what the adversary does since this change);

first on a quiet machine, then with ``--busy`` processes spinning (default: one per core, as
``pytest -n <cores>`` would), and prints the ratios. Run:
``.venv/bin/python bench/threads.py [--pairs 300] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import scripted

from pytest_bbi.adversaries.base import Deadline, LabeledPair, Trial
from pytest_bbi.adversaries.stylometric import StylometricAdversary


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


def _fit_seconds(pairs: int, threads: int | None) -> float:
    pool = [
        LabeledPair(prompt, scripted.teacher_fn(prompt, i), scripted.tic_fn(prompt, 10_000 + i))
        for i, prompt in enumerate(scripted.PROMPTS * (2 * pairs // len(scripted.PROMPTS) + 1))
    ][: 2 * pairs]
    train = pool[:pairs]
    trials = [Trial(p.prompt, p.teacher, p.student) for p in pool[pairs:]]
    adversary = StylometricAdversary()
    adversary.decide(train, trials, Deadline(None))  # features memoized: the fit is timed
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        adversary.decide(train, trials, Deadline(None))
        return time.perf_counter() - start


def _lifted(pairs: int) -> float:
    """A fit with the adversary's own one-thread limit lifted to the pools' default size."""
    import pytest_bbi.adversaries.pairwise as pairwise

    default_sizes = {info["internal_api"]: info["num_threads"] for info in threadpool_info()}
    original = pairwise.threadpool_limits
    pairwise.threadpool_limits = lambda limits: original(limits=max(default_sizes.values()))  # type: ignore[assignment,misc]
    try:
        return _fit_seconds(pairs, None)
    finally:
        pairwise.threadpool_limits = original


def _measure(pairs: int, repeats: int) -> dict[str, float]:
    default = [_lifted(pairs) for _ in range(repeats)]
    one = [_fit_seconds(pairs, 1) for _ in range(repeats)]
    return {"default": statistics.median(default), "one": statistics.median(one)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300, help="training (and held-out) pairs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=len(os.sched_getaffinity(0)))
    options = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, ")
    print(f"pools: {[(i['internal_api'], i['num_threads']) for i in threadpool_info()]}")
    quiet = _measure(options.pairs, options.repeats)
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(options.busy)]
    for spinner in spinners:
        spinner.start()
    try:
        busy = _measure(options.pairs, options.repeats)
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join()
    for label, times in (("quiet", quiet), (f"{options.busy} busy processes", busy)):
        print(
            f"{label}: fit {times['default']:.3f} s with the default pools, "
            f"{times['one']:.3f} s on one thread: {times['default'] / times['one']:.1f}x"
        )


if __name__ == "__main__":
    main()
