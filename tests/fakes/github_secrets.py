"""The two GitHub routes that store an Actions secret, on 127.0.0.1, with a real libsodium key pair."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nacl.public import PrivateKey, SealedBox

TOKEN = "ghp_FAKE_secrets_writer_token_0000"
_PUBLIC_KEY = re.compile(r"^/api/v3/repos/([^/]+/[^/]+)/actions/secrets/public-key$")
_SECRET = re.compile(r"^/api/v3/repos/([^/]+/[^/]+)/actions/secrets/([A-Za-z0-9_]+)$")


class FakeGitHubSecrets:
    """`base_url` is what GITHUB_API_URL takes (served under /api/v3, as GitHub Enterprise is)."""

    def __init__(self) -> None:
        self._key = PrivateKey.generate()
        self.stored: dict[tuple[str, str], str] = {}
        self.requests: list[tuple[str, str, bool]] = []
        self.faults: deque[int] = deque()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/v3"

    def __enter__(self) -> FakeGitHubSecrets:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def decrypt(self, repo: str, name: str) -> str:
        sealed = base64.b64decode(self.stored[(repo, name)])
        return SealedBox(self._key).decrypt(sealed).decode("utf-8")

    def _answer(self, method: str, path: str, authorized: bool, body: Any) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, authorized))
        if not authorized:
            return 401, {"message": "Bad credentials"}
        if self.faults:
            return self.faults.popleft(), {"message": "Server Error"}
        if method == "GET" and (match := _PUBLIC_KEY.match(path)):
            key = base64.b64encode(bytes(self._key.public_key)).decode("ascii")
            return 200, {"key_id": "fake-key-1", "key": key}
        if method == "PUT" and (match := _SECRET.match(path)):
            if not isinstance(body, dict) or body.get("key_id") != "fake-key-1" or "encrypted_value" not in body:
                return 422, {"message": "Invalid request"}
            created = (match.group(1), match.group(2)) not in self.stored
            self.stored[(match.group(1), match.group(2))] = body["encrypted_value"]
            return (201 if created else 204), {}
        return 404, {"message": "Not Found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                authorized = self.headers.get("Authorization", "") in (f"token {TOKEN}", f"Bearer {TOKEN}")
                status, payload = fake._answer(self.command, self.path, authorized, body)
                data = json.dumps(payload).encode() if status != 204 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = _serve

        return Handler
