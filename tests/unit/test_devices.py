"""Device placement: --bbi-device values, round-robin over GPUs, and counting GPUs without torch."""

from __future__ import annotations

import pytest

from pytest_bbi.errors import ModelSpecError
from pytest_bbi.models.devices import pick_device, torch_device, visible_gpu_count, worker_index


@pytest.mark.parametrize(
    ("worker", "index"), [(None, 0), ("gw0", 0), ("gw7", 7), ("master", 0), ("gw", 0)]
)
def test_worker_index(worker, index):
    assert worker_index(worker) == index


@pytest.mark.parametrize("requested", [None, "cuda"])
def test_workers_spread_round_robin_over_visible_gpus(requested):
    chosen = [pick_device(requested, worker=f"gw{k}", gpu_count=3) for k in range(7)]
    assert chosen == ["cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert pick_device(requested, worker=None, gpu_count=2) == "cuda:0"


def test_explicit_devices_are_kept_and_cpu_is_the_fallback():
    assert pick_device("cuda:1", worker="gw4", gpu_count=2) == "cuda:1"
    assert pick_device("cpu", worker="gw1", gpu_count=8) == "cpu"
    assert pick_device(None, worker="gw1", gpu_count=0) == "cpu"


def test_asking_for_cuda_without_a_gpu_says_how_to_fix_it():
    with pytest.raises(ModelSpecError, match="--bbi-device=cpu"):
        pick_device("cuda", worker=None, gpu_count=0)


@pytest.mark.parametrize(
    ("visible", "count"), [("0,1,2", 3), ("1", 1), ("", 0), ("-1", 0), ("GPU-5b1e,GPU-77aa", 2)]
)
def test_cuda_visible_devices_decides_the_gpu_count(monkeypatch, visible, count):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert visible_gpu_count() == count


def test_without_nvidia_smi_there_is_no_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert visible_gpu_count() == 0


def test_models_loaded_in_process_share_one_device_rule(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    expected = f"cuda:{3 % gpus}" if gpus else "cpu"
    assert torch_device() == expected
    assert torch_device("cpu") == "cpu"
