"""A scriptable OpenAI-compatible chat server on 127.0.0.1, run in a thread by the test suite.

Any POST path ending in `/chat/completions` is answered (so `/v1/...`, `/compatible-mode/v1/...`
and a bare `/chat/completions` all work). Every request is recorded, with the Authorization
value kept only as a SHA-256 so a test can check which bearer was sent without storing it.
Replies come from a queue (`script`), then from `fallback`; each is a `Reply` or a callable
that builds one from the recorded request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_ANSWER = '{"summary": "No issues.", "findings": []}'


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a chat completion by default, or any status/body; `drop` closes the socket unanswered."""

    status: int = 200
    text: str = DEFAULT_ANSWER
    finish_reason: str | None = "stop"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    body: Any = None  # overrides the completion: a JSON value, or str/bytes sent as text/plain
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw; the bearer token itself is never stored, only its hash."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names, Authorization removed
    has_authorization: bool
    bearer_sha256: str | None
    body: Any  # the decoded JSON body, or None when it was not JSON
    received_at: float  # time.monotonic()
    client_port: int  # the same port on two requests means a kept-alive, pooled connection

    def bearer_is(self, token: str) -> bool:
        return self.bearer_sha256 == _sha256(token)

    @property
    def prompt_text(self) -> str:
        """All message contents joined: what a test searches for leaked text."""
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))


Script = Reply | Callable[[RecordedRequest], Reply]


def chat_completion(reply: Reply, *, model: str) -> dict[str, Any]:
    """The JSON body of a non-streaming chat completion carrying `reply.text`."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
    }


def error_reply(status: int, message: str, *, code: str | None = None, type_: str | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
    """An error in the OpenAI shape: {"error": {"message", "type", "code"}}."""
    error = {"message": message, "type": type_ or "invalid_request_error", "code": code}
    return Reply(status=status, body={"error": error}, headers=dict(headers or {}))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ModelServer:
    """The server, its script and its record; start with `start()` or the `model_server` fixture."""

    def __init__(self) -> None:
        self.fallback: Script = Reply()
        self.reject_response_format = False  # answer 400 to any request carrying response_format
        self.required_token: str | None = None  # when set, any other bearer gets 401
        self._queue: deque[Script] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-model-server")

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def script(self, *replies: Script) -> None:
        """Queue replies, answered in order before `fallback`."""
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake delayed replies, cut kept-alive connections and join every thread."""
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- used by the handler threads ---

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self._requests.append(request)
            return len(self._requests)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        if self.required_token is not None and not request.bearer_is(self.required_token):
            return error_reply(401, "Incorrect API key provided.", code="invalid_api_key")
        if self.reject_response_format and isinstance(request.body, dict) and "response_format" in request.body:
            return error_reply(400, "Unrecognized request argument supplied: response_format")
        with self._lock:
            script = self._queue.popleft() if self._queue else self.fallback
        return script(request) if callable(script) else script


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined by server_close(), so none outlives a test
    owner: ModelServer

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.owner._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self.owner._connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pooling is exercised
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle would add ~40 ms each
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._send(404, {"error": {"message": "not found"}}, {})

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        auth = self.headers.get("Authorization")
        token = auth[7:] if auth and auth.lower().startswith("bearer ") else None
        request = RecordedRequest(
            method="POST", path=self.path,
            headers={k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"},
            has_authorization=auth is not None, bearer_sha256=_sha256(token) if token is not None else None,
            body=body, received_at=time.monotonic(), client_port=int(self.client_address[1]))
        owner._record(request)
        if not self.path.split("?")[0].endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
            return
        reply = owner._next_reply(request)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        model = body.get("model", "fake-model") if isinstance(body, dict) else "fake-model"
        payload = reply.body if reply.body is not None else chat_completion(reply, model=str(model))
        self._send(reply.status, payload, reply.headers)

    def _send(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        if isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            content_type = "text/plain; charset=utf-8"
        else:
            data = json.dumps(payload).encode()
            content_type = "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (its timeout) before the answer


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A started fake model server, closed (threads joined) after the test."""
    with ModelServer() as server:
        yield server
