"""A fault-injecting OpenAI-compatible server on loopback: no model, deterministic completions.

A completion is a pure function of (model, prompt, seed, max_tokens) (:func:`fake_completion`),
so tests know every answer in advance. The server counts the requests per prompt, logs every
answered completion, and misbehaves on demand (see :class:`Faults`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
]  # fmt: skip

MALFORMED_BODIES: dict[str, tuple[str, bytes]] = {
    "invalid-json": ("application/json", b'{"choices": [{"text": "cut off'),
    "html": (
        "text/html",
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ),
    "empty": ("application/json", b""),
    "not-an-object": ("application/json", b'["choices"]'),
    "no-choices": ("application/json", b'{"id": "x", "choices": []}'),
    "choices-not-a-list": ("application/json", b'{"choices": {"text": "hi"}}'),
    "choice-not-an-object": ("application/json", b'{"choices": ["hi"]}'),
    "text-null": ("application/json", b'{"choices": [{"index": 0, "text": null}]}'),
    "content-null": (
        "application/json",
        b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null}}]}',
    ),
}
"""Answers with status 200 that are not completions, by name."""


def fake_completion(model: str, prompt: str, seed: int, max_tokens: int = 16) -> str:
    """The server's completion: a few words drawn from a hash of its arguments."""
    digest = hashlib.sha256(f"{model}\0{prompt}\0{seed}".encode()).digest()
    count = 1 + digest[0] % min(max_tokens, 6)
    return " " + " ".join(WORDS[byte % len(WORDS)] for byte in digest[1 : 1 + count])


@dataclass
class Faults:
    """What the server does wrong; change the fields between (or during) calls.

    Attributes:
        echo_headers_status: answer every request with this status and an error body that
            echoes the request's headers (and repeats its Authorization header in the
            ``x-request-id`` and ``x-echo-authorization`` response headers).
        echo_prompts: the same, for these prompts only, each with its status.
        malformed: answer with this :data:`MALFORMED_BODIES` entry and status 200 ...
        malformed_times: ... this many times (``None``: every time).
        failing_prompts: prompts answered with this status every time (a persistent fault).
        fail_next: answer the next requests with ``fail_status`` ...
        fail_status: ... this status,
        retry_after: ... and this ``Retry-After`` header, if set.
        drop_next: close the connection of the next requests without an answer.
        delay_seconds: wait this long before answering each request.
    """

    echo_headers_status: int | None = None
    echo_prompts: dict[str, int] = field(default_factory=dict)
    malformed: str | None = None
    malformed_times: int | None = None
    failing_prompts: dict[str, int] = field(default_factory=dict)
    fail_next: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    drop_next: int = 0
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class Answered:
    """One completion the server sent, fully written to the socket."""

    prompt: str
    seed: int
    completion: str


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 (``/v1/completions``, chat, ``/v1/models``).

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1``.
        faults: what to do wrong.
        requests: how many requests arrived per prompt (the user turn for chat).
        answered: every completion sent, in order.
        seen_headers: the headers of every request, lower-cased names (in memory only).
    """

    def __init__(self) -> None:
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.answered: list[Answered] = []
        self.seen_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._reply(200, {"object": "list", "data": [{"id": "fake"}]})
                else:
                    self._reply(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._reply(400, {"error": {"message": "the request is not JSON"}})
                    return
                server._handle(self, body)

            def _reply(
                self,
                status: int,
                payload: object,
                content_type: str = "application/json",
                headers: dict[str, str] | None = None,
            ) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                return  # a client that gave up or was killed is expected, not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def _handle(self, handler: http.server.BaseHTTPRequestHandler, body: dict) -> None:
        chat = handler.path.rstrip("/").endswith("/chat/completions")
        if chat:
            messages = body.get("messages") or [{}]
            prompt = str(messages[-1].get("content", ""))
        else:
            prompt = str(body.get("prompt", ""))
        headers = {key.lower(): value for key, value in handler.headers.items()}
        with self._lock:
            self.requests[prompt] += 1
            self.seen_headers.append(headers)
            faults = self.faults
            action: tuple[str, object] = ("answer", None)
            if faults.echo_headers_status is not None:
                action = ("echo", faults.echo_headers_status)
            elif prompt in faults.echo_prompts:
                action = ("echo", faults.echo_prompts[prompt])
            elif faults.drop_next > 0:
                faults.drop_next -= 1
                action = ("drop", None)
            elif faults.fail_next > 0:
                faults.fail_next -= 1
                action = ("fail", faults.fail_status)
            elif prompt in faults.failing_prompts:
                action = ("fail", faults.failing_prompts[prompt])
            elif faults.malformed is not None and faults.malformed_times != 0:
                if faults.malformed_times is not None:
                    faults.malformed_times -= 1
                action = ("malformed", faults.malformed)
            delay, retry_after = faults.delay_seconds, faults.retry_after
        if delay:
            time.sleep(delay)
        reply = handler._reply  # type: ignore[attr-defined]
        kind, value = action
        if kind == "drop":
            handler.close_connection = True
            handler.connection.close()
        elif kind == "echo":
            echoed = "\n".join(f"{name}: {text}" for name, text in handler.headers.items())
            authorization = handler.headers.get("Authorization", "")
            reply(
                value,
                {"error": {"message": f"bad request; you sent:\n{echoed}", "headers": headers}},
                headers={"x-request-id": authorization, "x-echo-authorization": authorization},
            )
        elif kind == "fail":
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            reply(value, {"error": {"message": "injected fault"}}, headers=extra)
        elif kind == "malformed":
            content_type, payload = MALFORMED_BODIES[str(value)]
            reply(200, payload, content_type=content_type)
        else:
            self._answer(handler, body, prompt, chat)

    def _answer(
        self, handler: http.server.BaseHTTPRequestHandler, body: dict, prompt: str, chat: bool
    ) -> None:
        model = str(body.get("model", ""))
        seed = int(body.get("seed") or 0)
        text = fake_completion(model, prompt, seed, int(body.get("max_tokens") or 16))
        if chat:
            choice: dict[str, object] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            if body.get("logprobs") is not None:
                count = len(text.split())
                choice["logprobs"] = {"token_logprobs": [-0.5] * count, "tokens": [""] * count}
        payload = {
            "id": "fake",
            "object": "chat.completion" if chat else "text_completion",
            "created": 0,
            "model": model,
            "choices": [choice],
        }
        handler._reply(200, payload)  # type: ignore[attr-defined]
        with self._lock:
            self.answered.append(Answered(prompt, seed, text))

    def reset(self) -> None:
        """Forget the faults and the history."""
        with self._lock:
            self.faults = Faults()
            self.requests.clear()
            self.answered.clear()
            self.seen_headers.clear()

    def close(self) -> None:
        """Stop serving and drop every open connection, as a server that dies does."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
