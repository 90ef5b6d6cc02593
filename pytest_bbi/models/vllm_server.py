"""The ``vllm:`` backend: one managed vLLM server per session, shared by every xdist worker."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from filelock import FileLock

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.devices import visible_gpu_count
from pytest_bbi.models.openai_api import OpenAIModel, load_openai
from pytest_bbi.models.weights import model_identity, weight_files

PYTHON_ENV = "BBI_VLLM_PYTHON"
"""Environment variable naming the Python interpreter that has vLLM installed."""
STATE_DIR_ENV = "BBI_VLLM_STATE_DIR"
"""Environment variable naming the folder that holds server state files, locks and logs."""

_LOG_TAIL_CHARACTERS = 3000


@dataclass(frozen=True)
class ServerConfig:
    """How to start one vLLM server; equal configs share one server.

    Attributes:
        model_dir: the model folder vLLM serves.
        served_model: the model name clients send.
        python: the interpreter with vLLM installed.
        server_args: extra command-line arguments for vLLM's server (e.g. tensor parallelism).
        startup_timeout: seconds to wait for the server to report healthy.
    """

    model_dir: str
    served_model: str
    python: str
    server_args: tuple[str, ...]
    startup_timeout: float

    def key(self) -> str:
        """A short hash naming this config's state file, lock and log."""
        text = "\0".join((self.model_dir, self.served_model, self.python, *self.server_args))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def command(self, port: int) -> list[str]:
        """The command that starts the server on ``port`` of the loopback interface."""
        return [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model_dir,
            "--served-model-name",
            self.served_model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *self.server_args,
        ]


def state_dir() -> pathlib.Path:
    """Where state files live: ``$BBI_VLLM_STATE_DIR``, else a per-user temporary folder."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return pathlib.Path(configured)
    return pathlib.Path(tempfile.gettempdir()) / f"pytest-bbi-vllm-{os.getuid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url.removesuffix('/v1')}/health", timeout=5) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ManagedServer:
    """A lease on a vLLM server shared by all processes of a session on this machine.

    The first process to :meth:`acquire` a config starts the server (under a lock file, so
    concurrent xdist workers wait for it instead of starting their own) and records its pid,
    port and users in a state file; later processes attach to it. :meth:`release` removes the
    caller from the users, and the last user stops the server. Under xdist the plugin acquires
    the servers of ``vllm:`` fixture specs in the controller before the workers start, so the
    controller, which finishes last, starts and stops them. A server left behind by a killed
    session is reused when healthy and replaced when not.

    Args:
        config: what to serve and how.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self._state_path = folder / f"{config.key()}.json"
        self._log_path = folder / f"{config.key()}.log"
        self._lock = FileLock(str(folder / f"{config.key()}.lock"))
        self._events_path = folder / "servers.log"
        self.base_url = ""
        self.started_here = False

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _write_state(self, state: dict[str, Any]) -> None:
        partial = self._state_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(state))
        partial.replace(self._state_path)

    def _event(self, what: str, state: dict[str, Any]) -> None:
        """Append one line to the folder's ``servers.log``: who started, joined or stopped what."""
        line = (
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {what} server pid={state['pid']} "
            f"port={state['port']} by pid={os.getpid()} model={self.config.served_model}\n"
        )
        with self._events_path.open("a") as events:
            events.write(line)

    def acquire(self) -> str:
        """Attach to the running server or start one; returns its base URL (``…/v1``).

        Raises:
            BackendError: when the server exits or does not become healthy in time.
        """
        with self._lock:
            state = self._read_state()
            if state and _alive(state["pid"]) and _healthy(state["base_url"]):
                users = [pid for pid in state["users"] if _alive(pid) and pid != os.getpid()]
                state["users"] = [*users, os.getpid()]
                self._event("joined", state)
            else:
                if state and _alive(state["pid"]):
                    _stop(state["pid"])
                    self._event("replaced unhealthy", state)
                state = self._start()
                self.started_here = True
                self._event("started", state)
            self._write_state(state)
        self.base_url = str(state["base_url"])
        _leases.append(self)
        return self.base_url

    def _start(self) -> dict[str, Any]:
        port = _free_port()
        command = self.config.command(port)
        environment = {
            **os.environ,
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        }
        with self._log_path.open("wb") as log:
            try:
                process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=environment,
                    start_new_session=True,
                )
            except OSError as error:
                raise BackendError(
                    f"vllm: cannot run {self.config.python!r} ({error}); point the python option "
                    f"or ${PYTHON_ENV} at an interpreter with vLLM installed."
                ) from error
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.config.startup_timeout
        while not _healthy(base_url):
            if process.poll() is not None:
                raise BackendError(
                    f"vllm: the server exited with code {process.returncode} while starting.\n"
                    f"command: {shlex.join(command)}\nlog ({self._log_path}):\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                _stop(process.pid)
                raise BackendError(
                    f"vllm: the server was not healthy after {self.config.startup_timeout:.0f}s "
                    f"(option startup_timeout).\ncommand: {shlex.join(command)}\n"
                    f"log ({self._log_path}):\n{self._log_tail()}"
                )
            time.sleep(0.5)
        return {
            "pid": process.pid,
            "port": port,
            "base_url": base_url,
            "command": command,
            "owner": os.getpid(),
            "users": [os.getpid()],
        }

    def _log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-_LOG_TAIL_CHARACTERS:]
        except OSError:
            return "(no log)"

    def release(self) -> None:
        """Stop using the server; the last process using it stops it."""
        if self not in _leases:
            return
        _leases.remove(self)
        with self._lock:
            state = self._read_state()
            if state is None:
                return
            users = [pid for pid in state["users"] if _alive(pid) and pid != os.getpid()]
            if users:
                state["users"] = users
                self._write_state(state)
                return
            _stop(state["pid"])
            self._event("stopped", state)
            with contextlib.suppress(FileNotFoundError):
                self._state_path.unlink()


def _stop(pid: int, grace_seconds: float = 30.0) -> None:
    """Stop a server's process group: SIGTERM, then SIGKILL after ``grace_seconds``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


_leases: list[ManagedServer] = []


def release_all() -> None:
    """Release every server lease this process holds (the plugin calls it at session end)."""
    for lease in list(reversed(_leases)):
        lease.release()


atexit.register(release_all)


def server_config(
    target: str,
    *,
    served_model: str | None = None,
    python: str | None = None,
    server_args: str = "",
    startup_timeout: float = 600.0,
    dtype: str = "auto",
    max_model_len: int | None = None,
) -> ServerConfig:
    """The server config of a ``vllm:`` spec target and its server options.

    Raises:
        ModelSpecError: when the model folder is missing or an option is invalid.
    """
    folder = pathlib.Path(target).expanduser().resolve()
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ModelSpecError(
            f"vllm: {str(folder)!r} is not a model folder with a config.json; `vllm:` serves a "
            "local folder (convert a GGUF file first with pytest_bbi.models.gguf.convert_gguf)."
        )
    if startup_timeout <= 0:
        raise ModelSpecError(f"vllm: startup_timeout={startup_timeout!r} must be > 0 seconds.")
    arguments = ["--dtype", dtype]
    if max_model_len is not None:
        arguments += ["--max-model-len", str(max_model_len)]
    if visible_gpu_count() == 0 and "--enforce-eager" not in server_args:
        arguments.append("--enforce-eager")  # CPU: skip graph compilation, which costs minutes
    return ServerConfig(
        model_dir=str(folder),
        served_model=served_model or folder.name,
        python=python or os.environ.get(PYTHON_ENV) or sys.executable,
        server_args=(*arguments, *shlex.split(server_args)),
        startup_timeout=float(startup_timeout),
    )


_SERVER_OPTIONS = (
    "served_model",
    "python",
    "server_args",
    "startup_timeout",
    "dtype",
    "max_model_len",
)


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``vllm:`` options into (server options, client options for :func:`load_openai`)."""
    server = {key: value for key, value in options.items() if key in _SERVER_OPTIONS}
    client = {key: value for key, value in options.items() if key not in _SERVER_OPTIONS}
    return server, client


def load_vllm(target: str, **options: Any) -> OpenAIModel:
    """Serve a local model folder with vLLM, once per session, and connect to it.

    Server options: ``served_model`` (default: the folder name), ``python`` (an interpreter with
    vLLM installed; default ``$BBI_VLLM_PYTHON``, else this interpreter), ``server_args`` (extra
    vLLM arguments as one string, e.g. ``"--tensor-parallel-size 2"``), ``startup_timeout``
    (seconds, default 600), ``dtype`` (default ``auto``) and ``max_model_len``. Every other
    option goes to :func:`~pytest_bbi.models.openai_api.load_openai` (decoding, concurrency,
    retries). The model's identity is that of the served folder's weights and the decoding
    settings, not the ephemeral port, so cached completions survive a server restart.

    Args:
        target: the model folder.
        **options: server and client options.

    Returns:
        A model talking to the managed server.

    Raises:
        ModelSpecError: on a bad folder or option.
        BackendError: when the server cannot be started.
    """
    server_options, client_options = split_options(options)
    config = server_config(target, **server_options)
    lease = ManagedServer(config)
    base_url = lease.acquire()
    client_options.setdefault("name", config.served_model)
    folder = pathlib.Path(config.model_dir)
    return load_openai(
        f"{config.served_model}@{base_url}",
        identity_endpoint=f"vllm:{model_identity(folder, weight_files(folder), '')}",
        **client_options,
    )
