"""A Qwen OAuth server on 127.0.0.1: device codes with PKCE, refresh with rotation, scriptable failures, counters."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
import urllib.parse
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

CLIENT_ID = "f0304373b74a44d2b584a3fb70ca9e56"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class ScriptedResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class DeviceGrant:
    challenge: str
    method: str
    outcomes: deque[str]
    approved: bool = False


class FakeOAuthServer(LoopbackServer):
    """Start with `with FakeOAuthServer() as server:`; `server.base_url` is what QWEN_OAUTH_BASE_URL takes."""

    def __init__(self, *, resource_url: str = "portal.qwen.example", expires_in: int = 3600,
                 rotate: bool = True, token_delay: float = 0.0) -> None:
        self.resource_url = resource_url
        self.expires_in = expires_in
        self.rotate = rotate
        self.token_delay = token_delay
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.valid_refresh_tokens: set[str] = set()
        self.issued_access_tokens: list[str] = []
        self.issued_refresh_tokens: list[str] = []  # every one ever issued, still valid or not
        self.scripted: deque[ScriptedResponse] = deque()
        self.device_grants: dict[str, DeviceGrant] = {}
        self.device_outcomes: list[str] = ["ok"]
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return self.origin

    def issue_refresh_token(self) -> str:
        """A refresh token the server accepts (once, when rotating)."""
        with self._lock:
            token = f"fake-refresh-{next(self._serial)}-{time.monotonic_ns()}"
            self.valid_refresh_tokens.add(token)
            self.issued_refresh_tokens.append(token)
            return token

    def script(self, status: int, body: dict[str, Any], *, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next `times` requests to the token or device endpoint get this answer instead."""
        for _ in range(times):
            self.scripted.append(ScriptedResponse(status, body, headers or {}))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("ascii")))
                status, body, headers = server._answer(self.path, form, self.headers.get("Content-Type", ""))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _answer(self, path: str, form: dict[str, str], content_type: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append((path, form))
            kind = {"/api/v1/oauth2/device/code": "device_code", "/api/v1/oauth2/token": "token"}.get(path, "other")
            if kind == "token":
                kind = {"refresh_token": "refresh", DEVICE_GRANT: "device_poll"}.get(form.get("grant_type", ""), "token")
            self.counts[kind] += 1
            if kind == "other":
                return 404, {"error": "not_found"}, {}
            if not content_type.startswith("application/x-www-form-urlencoded"):
                return 415, {"error": "unsupported_media_type"}, {}
            if form.get("client_id") != CLIENT_ID:
                return 401, {"error": "invalid_client", "error_description": "unknown client"}, {}
            if self.scripted:
                scripted = self.scripted.popleft()
                return scripted.status, scripted.body, scripted.headers
            if kind == "device_code":
                return self._device_code(form)
            if kind == "device_poll":
                return self._device_poll(form)
            if kind == "refresh":
                delay = self.token_delay
            else:
                return 400, {"error": "unsupported_grant_type"}, {}
        if delay:
            time.sleep(delay)  # outside the lock, so a racing second request would be seen and counted
        with self._lock:
            return self._refresh(form)

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        token = form.get("refresh_token", "")
        if token not in self.valid_refresh_tokens:
            return 400, {"error": "invalid_grant", "error_description": "refresh token is invalid or expired"}, {}
        body = self._tokens()
        if self.rotate:
            self.valid_refresh_tokens.discard(token)
        else:
            self.valid_refresh_tokens.discard(body.pop("refresh_token"))
        return 200, body, {}

    def _tokens(self) -> dict[str, Any]:
        serial = next(self._serial)
        access = f"fake-access-{serial}-{time.monotonic_ns()}"
        refresh = f"fake-refresh-{serial}-{time.monotonic_ns()}"
        self.issued_access_tokens.append(access)
        self.issued_refresh_tokens.append(refresh)
        self.valid_refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": self.expires_in, "resource_url": self.resource_url}

    def _device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not form.get("code_challenge") or form.get("code_challenge_method") != "S256":
            return 400, {"error": "invalid_request", "error_description": "PKCE S256 required"}, {}
        if form.get("scope") != "openid profile email model.completion":
            return 400, {"error": "invalid_scope"}, {}
        device_code = f"device-{next(self._serial)}"
        self.device_grants[device_code] = DeviceGrant(form["code_challenge"], form["code_challenge_method"],
                                                      deque(self.device_outcomes))
        return 200, {"device_code": device_code, "user_code": "ABCD-1234",
                     "verification_uri": "https://chat.qwen.example/authorize",
                     "verification_uri_complete": "https://chat.qwen.example/authorize?user_code=ABCD-1234",
                     "expires_in": 300}, {}

    def _device_poll(self, form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        grant = self.device_grants.get(form.get("device_code", ""))
        if grant is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown device code"}, {}
        verifier = form.get("code_verifier", "")
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if expected != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}, {}
        outcome = grant.outcomes.popleft() if grant.outcomes else "ok"
        if outcome == "ok":
            del self.device_grants[form["device_code"]]
            return 200, self._tokens(), {}
        status = 429 if outcome == "slow_down" else 400
        return status, {"error": outcome, "error_description": f"fake {outcome}"}, {}


def creds_json(*, refresh_token: str, access_token: str = "fake-access-0", expires_in_s: float = 3600.0,
               resource_url: str | None = "portal.qwen.example") -> str:
    """The JSON of an `oauth_creds.json` as Qwen Code writes it (expiry_date in milliseconds)."""
    data: dict[str, Any] = {"access_token": access_token, "refresh_token": refresh_token, "token_type": "Bearer",
                            "expiry_date": int((time.time() + expires_in_s) * 1000)}
    if resource_url is not None:
        data["resource_url"] = resource_url
    return json.dumps(data, indent=2)
