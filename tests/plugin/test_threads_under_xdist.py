"""Under ``-n``, each xdist worker's thread pools share the machine's cores, and say so.

(A serial run, one worker, is left alone: tests/unit/test_worker_threads.py.)
"""

import os

WORKER_SEES = """
import os

def test_threads(request):
    seen = (os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS"))
    (request.config.rootpath / "seen.txt").write_text(" ".join(map(str, seen)))
"""


def _cores():
    return len(os.sched_getaffinity(0))


def test_workers_share_the_cores_and_the_header_says_how(pytester, monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_sees=WORKER_SEES)
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=1)
    share = max(1, _cores() // 2)
    result.stdout.fnmatch_lines(
        [f"bbi: each xdist worker runs {share} native thread(s) (set OMP_NUM_THREADS to choose)"]
    )
    assert (pytester.path / "seen.txt").read_text() == f"{share} {share}"


def test_the_users_setting_wins(pytester, monkeypatch):
    pytester.makepyfile(test_sees=WORKER_SEES)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    under_xdist = pytester.runpytest_subprocess("-n", "2")
    under_xdist.assert_outcomes(passed=1)
    assert (pytester.path / "seen.txt").read_text() == "3 None"
    assert "native thread" not in under_xdist.stdout.str()
