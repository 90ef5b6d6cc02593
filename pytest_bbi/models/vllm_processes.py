"""The managed vLLM server's processes and state: a private folder, verified processes, identity."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

from pytest_bbi.errors import BackendError
from pytest_bbi.processes import alive

STATE_DIR_ENV = "BBI_VLLM_STATE_DIR"
"""Environment variable naming the folder that holds server state files, locks and logs."""


TOKEN_PREFIX = "bbi-"


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Requests to the loopback server never go through a proxy named in the environment."""


_children: dict[int, subprocess.Popen[bytes]] = {}
"""The servers this process started, by pid."""


def state_dir() -> pathlib.Path:
    """Where state files live: ``$BBI_VLLM_STATE_DIR``, else a per-user temporary folder.

    :class:`ManagedServer` creates it private (mode 0700) and refuses one that is not (see
    :func:`private_state_dir`).
    """
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return pathlib.Path(configured)
    return pathlib.Path(tempfile.gettempdir()) / f"pytest-bbi-vllm-{os.getuid()}"


def private_state_dir(folder: pathlib.Path) -> pathlib.Path:
    """Create ``folder`` private to this user (mode 0700), or check that an existing one is.

    The folder holds the state that says which process and port serve a model, so another
    user who could write there could make this session signal any process or use any server.
    A folder of this user that others may only read (e.g. mode 0755, as earlier versions
    created it) is made private: nobody else could have written to it.

    Args:
        folder: the state folder.

    Returns:
        The folder.

    Raises:
        BackendError: when the folder is a symbolic link or not a directory, belongs to
            another user, or other users may write to it; the message says how to fix it.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    found = os.lstat(folder)
    if stat.S_ISLNK(found.st_mode) or not stat.S_ISDIR(found.st_mode):
        problem = "is a symbolic link" if stat.S_ISLNK(found.st_mode) else "is not a directory"
    elif found.st_uid != os.getuid():
        problem = f"belongs to another user (uid {found.st_uid}; you are uid {os.getuid()})"
    elif found.st_mode & 0o022:
        problem = f"is writable by other users (mode {stat.S_IMODE(found.st_mode):04o})"
    else:
        if found.st_mode & 0o077:
            os.chmod(folder, 0o700)
        return folder
    raise BackendError(
        f"vllm: the server state folder {folder} {problem}, so another user could have planted "
        f"server state there; remove it (`rm -r {folder}`) or point ${STATE_DIR_ENV} at a "
        "private folder (`mkdir -m 700 DIR`)."
    )


def process_start(pid: int) -> str | None:
    """When process ``pid`` started: the boot id and its start time in clock ticks since boot.

    Together with the pid this names one process for good: a pid reused by a later process
    has another start time. ``None`` when the process does not exist or the system has no
    ``/proc`` (then no recorded process is ever trusted).
    """
    try:
        boot = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        status = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = status[status.rindex(")") + 2 :].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _command_line(pid: int) -> list[str] | None:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1]]


def is_recorded_process(state: dict[str, Any]) -> bool:
    """Whether the state's process is still the server this plugin started, safe to signal.

    It must be alive, belong to this user, lead its own process group, and have the recorded
    start time and command line; a pid that now names another process fails. A running child
    of this process that it started as the server also passes (this covers systems without
    ``/proc``, where no other process can be verified).
    """
    pid = state["pid"]
    child = _children.get(pid)
    if child is not None and child.poll() is None:
        return True
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
        group = os.getpgid(pid)
    except OSError:
        return False
    return (
        owner == os.getuid()
        and group == pid
        and process_start(pid) == state["started"]
        and _command_line(pid) == state["command"]
    )


def healthy(base_url: str) -> bool:
    """Whether the server at ``base_url`` answers its health check."""
    try:
        with _NO_PROXY.open(f"{base_url.removesuffix('/v1')}/health", timeout=5) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def identity_problem(port: int, served_model: str, token: str) -> str | None:
    """Why the server on ``port`` is not the one started with ``token``; None when it is.

    The server must list both ``served_model`` and ``token`` under ``/v1/models``; only a
    server started with the token (a per-start random name this plugin chose) does.
    """
    url = f"http://127.0.0.1:{port}/v1/models"
    try:
        with _NO_PROXY.open(url, timeout=5) as reply:
            listed = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return f"it answered {url} with HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return f"it gave no model list at {url} ({error})"
    data = listed.get("data") if isinstance(listed, dict) else None
    names = [str(card.get("id")) for card in data or () if isinstance(card, dict)]
    if served_model not in names or token not in names:
        shown = [name for name in names if not name.startswith(TOKEN_PREFIX)]
        return f"it serves {shown}, not {served_model!r} with this session's token"
    return None


def free_port() -> int:
    """A loopback TCP port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def valid_state(state: object) -> dict[str, Any] | None:
    """The state when every field has its type, else None (a damaged or foreign file)."""
    if not isinstance(state, dict):
        return None
    fields: dict[str, type] = {
        "pid": int,
        "port": int,
        "started": str,
        "token": str,
        "command": list,
        "users": list,
    }
    if not all(isinstance(state.get(name), kind) for name, kind in fields.items()):
        return None
    if not (state["pid"] > 1 and 0 < state["port"] < 65536):
        return None
    if not all(isinstance(part, str) for part in state["command"]):
        return None
    if not all(isinstance(user, int) and user > 0 for user in state["users"]):
        return None
    return state


def stop(pid: int, grace_seconds: float = 30.0) -> None:
    """Stop a server's process group: SIGTERM, then SIGKILL after ``grace_seconds``.

    Call it only for a process this plugin started (a child it holds, or one that
    :func:`is_recorded_process` verified).
    """
    child = _children.pop(pid, None)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:  # reaps it, so the Popen knows it ended
                return
        elif not alive(pid):
            break
        else:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if child is not None:
        child.wait()


def adopt(process: subprocess.Popen[bytes]) -> None:
    """Remember ``process`` as a server this process started (it may be signalled and reaped)."""
    _children[process.pid] = process


def is_child(pid: int) -> bool:
    """Whether ``pid`` is a server this process started and still holds."""
    return pid in _children
