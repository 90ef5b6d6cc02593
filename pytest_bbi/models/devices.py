"""Device placement for in-process models: the ``--bbi-device`` rule and GPU round-robin."""

from __future__ import annotations

import os
import re
import subprocess

from pytest_bbi.errors import ModelSpecError

_WORKER = re.compile(r"gw(\d+)")


def worker_index(worker: str | None) -> int:
    """The number of an xdist worker id (``"gw3"`` → 3); 0 for the controller or a serial run."""
    match = _WORKER.fullmatch(worker or "")
    return int(match.group(1)) if match else 0


def pick_device(requested: str | None, *, worker: str | None, gpu_count: int) -> str:
    """Choose the torch device of an in-process model.

    Args:
        requested: ``None`` (automatic), ``"cpu"``, ``"cuda"`` (round-robin over the visible
            GPUs) or an explicit device such as ``"cuda:1"`` or ``"mps"``.
        worker: the xdist worker id (``PYTEST_XDIST_WORKER``), ``None`` outside xdist.
        gpu_count: how many CUDA devices are visible.

    Returns:
        The device: ``"cuda:K"`` with ``K = worker number mod gpu_count`` for automatic and
        ``"cuda"`` requests when GPUs are visible, ``"cpu"`` for automatic requests without
        one, and explicit devices unchanged.

    Raises:
        ModelSpecError: when ``"cuda"`` is requested but no GPU is visible.
    """
    if requested not in (None, "cuda"):
        return str(requested)
    if gpu_count > 0:
        return f"cuda:{worker_index(worker) % gpu_count}"
    if requested == "cuda":
        raise ModelSpecError(
            "device 'cuda' was requested but torch sees no CUDA device; check the driver and "
            "CUDA_VISIBLE_DEVICES, or pass --bbi-device=cpu."
        )
    return "cpu"


def torch_device(requested: str | None = None) -> str:
    """The device for a model this process loads: :func:`pick_device` with torch's GPU count.

    Imports torch, so call it only where a model is about to be loaded.

    Args:
        requested: as for :func:`pick_device`.
    """
    import torch

    gpu_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return pick_device(requested, worker=os.environ.get("PYTEST_XDIST_WORKER"), gpu_count=gpu_count)


def visible_gpu_count() -> int:
    """How many NVIDIA GPUs this process may use, found without importing torch.

    ``CUDA_VISIBLE_DEVICES`` wins when set (an empty value or ``-1`` hides every GPU);
    otherwise ``nvidia-smi -L`` is asked; a machine without it has none.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [entry.strip() for entry in visible.split(",") if entry.strip()]
        if not entries or entries[0] == "-1":
            return 0
        return len(entries)
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return 0
    if listing.returncode != 0:
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())
