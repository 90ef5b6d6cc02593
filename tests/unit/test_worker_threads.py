"""Sharing the cores among xdist workers: each pool sized to its share, a user's setting kept."""

import pytest

from pytest_bbi.plugin.threads import THREAD_VARIABLES, share_cores


@pytest.mark.parametrize(
    ("workers", "cores", "threads"), [(2, 2, 1), (2, 8, 4), (3, 8, 2), (16, 4, 1)]
)
def test_each_worker_gets_its_share_of_the_cores(workers, cores, threads):
    environ = {}
    assert share_cores(workers, environ, cores=cores) == threads
    assert environ == {name: str(threads) for name in THREAD_VARIABLES}


@pytest.mark.parametrize("name", THREAD_VARIABLES)
def test_a_variable_the_user_set_wins(name):
    environ = {name: "3"}
    assert share_cores(2, environ, cores=8) is None
    assert environ == {name: "3"}


@pytest.mark.parametrize("workers", [0, 1])
def test_one_process_keeps_the_whole_machine(workers):
    environ = {}
    assert share_cores(workers, environ, cores=8) is None
    assert environ == {}


@pytest.mark.parametrize(("value", "threads"), [("1", 1), ("4", 4), ("0", 0), ("two", 0), ("", 0)])
def test_the_onnx_encoder_sizes_its_pool_from_the_same_variable(monkeypatch, value, threads):
    from pytest_bbi.adversaries import encoder

    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert encoder._threads_from_environment() == threads
