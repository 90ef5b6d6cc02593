"""A loopback HTTP proxy that forwards to a real server and injects faults on request."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What the proxy does to the next requests; change it between calls."""

    fail_next: int = 0
    fail_status: int = 503
    delay_seconds: float = 0.0
    dead_after: int | None = None
    seen: list[dict[str, str]] = field(default_factory=list)
    answered: int = 0


class FaultProxy:
    """Forward ``/v1/...`` to ``upstream``; fail, delay or die as ``faults`` says.

    Every request's path, status and headers are recorded in ``faults.seen`` (in memory only).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = Faults()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                self._handle(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _handle(self, body: bytes) -> None:
                status = proxy._decide(self.path, dict(self.headers))
                if status == "dead":
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(status, int):
                    self._reply(status, b'{"error": {"message": "injected fault"}}')
                    return
                request = urllib.request.Request(
                    proxy.upstream + self.path,
                    data=body or None,
                    method=self.command,
                    headers={"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=120) as answer:
                        self._reply(answer.status, answer.read())
                except urllib.error.HTTPError as error:
                    self._reply(error.code, error.read())

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                return  # a client that gave up (timeout tests) is expected, not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _decide(self, path: str, headers: dict[str, str]) -> int | str | None:
        with self._lock:
            faults = self.faults
            record = {"path": path, **{key.lower(): value for key, value in headers.items()}}
            faults.seen.append(record)
            if faults.dead_after is not None and faults.answered >= faults.dead_after:
                record["status"] = "dead"
                return "dead"
            if faults.fail_next > 0:
                faults.fail_next -= 1
                record["status"] = str(faults.fail_status)
                return faults.fail_status
            faults.answered += 1
            delay = faults.delay_seconds
        if delay:
            time.sleep(delay)
        return None

    def reset(self) -> None:
        """Forget faults and history."""
        with self._lock:
            self.faults = Faults()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
