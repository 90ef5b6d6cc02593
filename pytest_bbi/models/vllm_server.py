"""The ``vllm:`` backend: one managed vLLM server per session, shared by every xdist worker."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import pathlib
import secrets
import shlex
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from filelock import FileLock

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models.devices import visible_gpu_count
from pytest_bbi.models.openai_api import OpenAIModel, load_openai
from pytest_bbi.models.vllm_processes import (
    TOKEN_PREFIX,
    adopt,
    free_port,
    healthy,
    identity_problem,
    is_child,
    is_recorded_process,
    private_state_dir,
    process_start,
    state_dir,
    stop,
    valid_state,
)
from pytest_bbi.models.weights import model_identity, weight_files
from pytest_bbi.options import parse_float, parse_int
from pytest_bbi.processes import alive
from pytest_bbi.progress import phase

PYTHON_ENV = "BBI_VLLM_PYTHON"
"""Environment variable naming the Python interpreter that has vLLM installed."""

_LOG_TAIL_CHARACTERS = 3000
_IDENTIFY_SECONDS = 30.0
"""How long a server that reports healthy may take to list its models correctly."""


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

    def command(self, port: int, token: str) -> list[str]:
        """The command that starts the server on ``port`` of the loopback interface.

        ``token`` becomes a second served model name, which the server then lists under
        ``/v1/models``: proof that the server on the port is the one started with it.
        """
        return [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model_dir,
            "--served-model-name",
            self.served_model,
            token,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *self.server_args,
        ]


class ManagedServer:
    """A lease on a vLLM server shared by all processes of a session on this machine.

    The first process to :meth:`acquire` a config starts the server (under a lock file, so
    concurrent xdist workers wait for it instead of starting their own) and records its pid,
    start time, command line, port, a per-start random token and its users in a state file;
    later processes attach to it. :meth:`release` removes the caller from the users, and the
    last user stops the server. Under xdist the plugin acquires the servers of ``vllm:``
    fixture specs in the controller before the workers start, so the controller, which
    finishes last, starts and stops them. A server left behind by a killed session is reused
    when it is still the recorded process and answers as itself, and replaced when not.

    The state is trusted only as far as it checks out: the state folder must be private to
    this user (see :func:`private_state_dir`); a recorded process is signalled only when it is
    still the one this plugin started (:func:`is_recorded_process`: its start time and command
    line, so a reused pid is never signalled); and a server is used only when it lists the
    served model and the token under ``/v1/models`` (:func:`identity_problem`), at the
    loopback port the state records, never at an address read from the file.

    Args:
        config: what to serve and how.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        folder = private_state_dir(state_dir())
        self._state_path = folder / f"{config.key()}.json"
        self._log_path = folder / f"{config.key()}.log"
        self._lock = FileLock(str(folder / f"{config.key()}.lock"))
        self._events_path = folder / "servers.log"
        self.base_url = ""
        self.started_here = False
        self._started_pid: int | None = None

    def _read_state(self) -> dict[str, Any] | None:
        try:
            found = os.lstat(self._state_path)
            if not stat.S_ISREG(found.st_mode) or found.st_uid != os.getuid():
                return None
            return valid_state(json.loads(self._state_path.read_text()))
        except (OSError, ValueError):
            return None

    def _write_state(self, state: dict[str, Any]) -> None:
        partial = self._state_path.with_suffix(".json.partial")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(state, file)
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
            BackendError: when the state folder is not private, or the server exits, does not
                become healthy in time, or does not answer as the server that was started.
        """
        with self._lock:
            state = self._read_state()
            if state is not None:
                ours = is_recorded_process(state)
                problem = (
                    identity_problem(state["port"], self.config.served_model, state["token"])
                    if ours
                    else "its recorded process is gone or is not the server this plugin started"
                )
                if problem is None:
                    users = [pid for pid in state["users"] if alive(pid) and pid != os.getpid()]
                    state["users"] = [*users, os.getpid()]
                    self._event("joined", state)
                else:
                    if ours:
                        stop(state["pid"])
                    self._event(f"replaced ({problem})", state)
                    state = None
            if state is None:
                state = self._start()
                self.started_here = True
                self._started_pid = state["pid"]
                self._event("started", state)
            self._write_state(state)
        self.base_url = f"http://127.0.0.1:{state['port']}/v1"
        _leases.append(self)
        return self.base_url

    def _start(self) -> dict[str, Any]:
        port = free_port()
        token = TOKEN_PREFIX + secrets.token_hex(16)
        command = self.config.command(port, token)
        environment = {
            **os.environ,
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        }
        environment.pop("VLLM_API_KEY", None)  # the server must answer /v1/models to anyone
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
        adopt(process)
        started = process_start(process.pid)
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.config.startup_timeout
        with phase(f"starting the vLLM server for {self.config.served_model}"):
            while not healthy(base_url):
                self._check_running(process, command, deadline)
                time.sleep(0.5)
            deadline = min(deadline, time.monotonic() + _IDENTIFY_SECONDS)
            while (problem := identity_problem(port, self.config.served_model, token)) is not None:
                self._check_running(process, command, deadline, problem)
                time.sleep(0.5)
        return {
            "pid": process.pid,
            "port": port,
            "started": started or "",
            "token": token,
            "command": command,
            "owner": os.getpid(),
            "users": [os.getpid()],
        }

    def _check_running(
        self,
        process: subprocess.Popen[bytes],
        command: list[str],
        deadline: float,
        problem: str | None = None,
    ) -> None:
        """Raise when the starting server exited or ran out of time (stopping it)."""
        shown = shlex.join(part for part in command if not part.startswith(TOKEN_PREFIX))
        if process.poll() is not None:
            raise BackendError(
                f"vllm: the server exited with code {process.returncode} while starting.\n"
                f"command: {shown}\nlog ({self._log_path}):\n{self._log_tail()}"
            )
        if time.monotonic() > deadline:
            stop(process.pid)
            what = (
                f"did not answer as the server it started ({problem})"
                if problem
                else f"was not healthy after {self.config.startup_timeout:.0f}s "
                "(option startup_timeout)"
            )
            raise BackendError(
                f"vllm: the server {what}.\ncommand: {shown}\n"
                f"log ({self._log_path}):\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-_LOG_TAIL_CHARACTERS:]
        except OSError:
            return "(no log)"

    def release(self) -> None:
        """Stop using the server; the last process using it stops it, if it is still its own."""
        if self not in _leases:
            return
        _leases.remove(self)
        with self._lock:
            state = self._read_state()
            if state is None:
                return
            users = [pid for pid in state["users"] if alive(pid) and pid != os.getpid()]
            if users:
                state["users"] = users
                self._write_state(state)
                return
            if is_recorded_process(state):
                stop(state["pid"])
                self._event("stopped", state)
            else:
                self._event("forgot (its recorded process is gone or not ours)", state)
            started_here = self._started_pid
            if started_here is not None and is_child(started_here):  # the state names another
                stop(started_here)
            with contextlib.suppress(FileNotFoundError):
                self._state_path.unlink()


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
    startup_timeout = parse_float("startup_timeout", startup_timeout, context="vllm")
    if max_model_len is not None:
        max_model_len = parse_int("max_model_len", max_model_len, context="vllm")
    extra = shlex.split(str(server_args))
    if any(argument.split("=")[0] == "--api-key" for argument in extra):
        raise ModelSpecError(
            "vllm: server_args must not set --api-key: the plugin checks a managed server's "
            "identity through /v1/models, which the key would close; serve the model yourself "
            "and use openai:MODEL@URL with api_key_env to run a server with a key."
        )
    folder = pathlib.Path(target).expanduser().resolve()
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ModelSpecError(
            f"vllm: {str(folder)!r} is not a model folder with a config.json; `vllm:` serves a "
            "local folder (convert a GGUF file first with pytest_bbi.models.gguf.convert_gguf)."
        )
    if startup_timeout <= 0:
        raise ModelSpecError(f"vllm: startup_timeout={startup_timeout!r} must be > 0 seconds.")
    arguments = ["--dtype", str(dtype)]
    if max_model_len is not None:
        arguments += ["--max-model-len", str(max_model_len)]
    if visible_gpu_count() == 0 and "--enforce-eager" not in extra:
        arguments.append("--enforce-eager")  # CPU: skip graph compilation, which costs minutes
    return ServerConfig(
        model_dir=str(folder),
        served_model=str(served_model or folder.name),
        python=str(python or os.environ.get(PYTHON_ENV) or sys.executable),
        server_args=(*arguments, *extra),
        startup_timeout=startup_timeout,
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

    State files, locks and logs live in a folder private to the user (``$BBI_VLLM_STATE_DIR``,
    default a per-user folder under the system temporary directory), created with mode 0700;
    an existing one that another user owns or may access is refused. Before a recorded server
    is reused or stopped, its process is checked to be the one this plugin started, and the
    server to list the served model and a per-start random token as model names (see
    :class:`ManagedServer`); ``VLLM_API_KEY`` is not passed to the server, and ``server_args``
    may not set ``--api-key``.

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
