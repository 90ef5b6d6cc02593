"""The vllm: state is trusted only as far as it checks out: a private folder, the recorded
process verified before it is signalled, the server's identity verified before it is used.

A fake ``vllm`` package (a stdlib HTTP server answering /health and /v1/models) stands in for
vLLM, so these tests need no real server."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from pytest_bbi.errors import BackendError, ModelSpecError
from pytest_bbi.models import vllm_processes, vllm_server
from pytest_bbi.models.vllm_server import ManagedServer, ServerConfig, process_start

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc") or not hasattr(os, "killpg"), reason="needs Linux processes"
)

FAKE_VLLM = r"""
import argparse, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--served-model-name", nargs="+")
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args, _ = parser.parse_known_args()
names = args.served_model_name or [args.model]
key = os.environ.get("VLLM_API_KEY")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        code, body = 404, b""
        if self.path == "/health":
            code = 200
        elif self.path == "/v1/models":
            if key and self.headers.get("Authorization") != f"Bearer {key}":
                code = 401
            else:
                code, body = 200, json.dumps({"data": [{"id": n} for n in names]}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        print(self.command, self.path, flush=True)


ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
"""


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    """A fake vllm package on PYTHONPATH, a model folder and a private state folder."""
    package = tmp_path / "fake" / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    (package / "api_server.py").write_text(FAKE_VLLM)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setenv(vllm_processes.STATE_DIR_ENV, str(tmp_path / "state"))
    config = ServerConfig(
        model_dir=str(model),
        served_model="smollm2",
        python=sys.executable,
        server_args=(),
        startup_timeout=60,
    )
    yield config, tmp_path / "state"
    vllm_server.release_all()


@pytest.fixture
def bystanders():
    """Processes the tests start; any still running at the end are stopped."""
    started = []

    def start(command, **kwargs):
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(port, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the rogue server did not start")


def plant(state_folder, config, **fields):
    """Write a state file for ``config`` (with the old base_url field too)."""
    state_folder.mkdir(mode=0o700, exist_ok=True)
    state = {
        "pid": fields["pid"],
        "port": fields["port"],
        "base_url": f"http://127.0.0.1:{fields['port']}/v1",
        "started": fields.get("started", "not-the-recorded-start"),
        "token": fields.get("token", "bbi-planted"),
        "command": fields.get("command", ["vllm", "serve"]),
        "owner": fields["pid"],
        "users": fields.get("users", []),
    }
    (state_folder / f"{config.key()}.json").write_text(json.dumps(state))


def events(state_folder):
    log = state_folder / "servers.log"
    return log.read_text() if log.exists() else ""


def test_the_state_folder_is_created_private(fake_vllm):
    config, folder = fake_vllm
    ManagedServer(config)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.stat().st_uid == os.getuid()


def test_a_folder_others_may_write_is_refused_with_the_fix(fake_vllm):
    config, folder = fake_vllm
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(BackendError, match=r"writable by other users \(mode 0777\).*rm -r"):
        ManagedServer(config)


def test_a_folder_of_another_user_is_refused(fake_vllm, monkeypatch):
    config, folder = fake_vllm
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: folder.stat().st_uid + 1)
    with pytest.raises(BackendError, match=r"belongs to another user.*BBI_VLLM_STATE_DIR"):
        ManagedServer(config)


def test_a_symlinked_folder_is_refused(fake_vllm, tmp_path):
    config, folder = fake_vllm
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    folder.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BackendError, match="is a symbolic link"):
        ManagedServer(config)


def test_a_folder_of_this_user_that_others_may_only_read_is_made_private(fake_vllm):
    config, folder = fake_vllm
    folder.mkdir()
    folder.chmod(0o755)
    ManagedServer(config)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_started_server_is_verified_and_shared(fake_vllm):
    config, folder = fake_vllm
    first = ManagedServer(config)
    url = first.acquire()
    state_file = folder / f"{config.key()}.json"
    state = json.loads(state_file.read_text())
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert state["token"] in state["command"]
    assert state["started"] == process_start(state["pid"])
    second = ManagedServer(config)
    assert second.acquire() == url
    assert "joined server" in events(folder)
    second.release()
    first.release()
    assert "stopped server" in events(folder)
    assert process_start(state["pid"]) is None


def test_a_reused_pid_is_never_signalled_and_a_new_server_starts(fake_vllm, bystanders):
    config, folder = fake_vllm
    bystander = bystanders(["sleep", "60"])  # leads its own process group, like a server
    port = free_port()
    plant(folder, config, pid=bystander.pid, port=port)
    lease = ManagedServer(config)
    url = lease.acquire()
    assert url != f"http://127.0.0.1:{port}/v1"
    lease.release()
    time.sleep(0.2)
    assert bystander.poll() is None, "the process that reused the recorded pid was signalled"
    assert "replaced (its recorded process is gone" in events(folder)


def test_release_never_signals_a_process_that_is_not_the_recorded_server(fake_vllm, bystanders):
    config, folder = fake_vllm
    lease = ManagedServer(config)
    lease.acquire()
    state_file = folder / f"{config.key()}.json"
    state = json.loads(state_file.read_text())
    bystander = bystanders(["sleep", "60"])
    # The server's pid now names another process (the server died, the pid was reused).
    state_file.write_text(json.dumps({**state, "pid": bystander.pid}))
    lease.release()
    time.sleep(0.2)
    assert bystander.poll() is None, "release signalled a process it did not start"
    assert "forgot" in events(folder)
    assert process_start(state["pid"]) is None  # the server it did start is stopped all the same


@pytest.mark.parametrize("verifiable", [False, True], ids=["unverified-pid", "verified-pid"])
def test_a_planted_state_cannot_redirect_the_teacher(fake_vllm, bystanders, tmp_path, verifiable):
    config, folder = fake_vllm
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        config.model_dir,
        "--served-model-name",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    requests = tmp_path / "rogue-requests.log"
    with requests.open("w") as log:
        rogue = bystanders(command, stdout=log, stderr=subprocess.STDOUT)
    wait_healthy(port, rogue)
    started = process_start(rogue.pid) if verifiable else "another-start"
    plant(folder, config, pid=rogue.pid, port=port, started=started, command=command)

    lease = ManagedServer(config)
    url = lease.acquire()
    assert url != f"http://127.0.0.1:{port}/v1"
    assert "not 'smollm2' with this session's token" in events(folder) or not verifiable
    if not verifiable:
        assert rogue.poll() is None  # an unverified process is never signalled
    lease.release()
    asked = requests.read_text().split("\n")
    assert not [line for line in asked if line.startswith(("POST", "GET /v1/c"))]


def test_the_server_never_inherits_an_api_key(fake_vllm, monkeypatch):
    config, _ = fake_vllm
    monkeypatch.setenv("VLLM_API_KEY", "a key that would close /v1/models")
    lease = ManagedServer(config)
    assert lease.acquire().startswith("http://127.0.0.1:")
    lease.release()


def test_server_args_may_not_set_an_api_key(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelSpecError, match="must not set --api-key"):
        vllm_server.server_config(str(tmp_path), server_args="--api-key=secret")
