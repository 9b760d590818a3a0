"""The OAuth device authorization flow (RFC 8628) with PKCE S256, as Qwen Code logs in."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qwen_review.errors import CredentialsError, ProviderError
from qwen_review.providers.credentials_file import QwenCredentials
from qwen_review.providers.oauth_http import (
    CLIENT_ID,
    DEVICE_CODE_PATH,
    DEVICE_GRANT_TYPE,
    DISCONTINUED_NOTE,
    SCOPE,
    TOKEN_PATH,
    Sleep,
    credentials_from_token,
    post_form,
    request_with_retries,
    server_message,
)

DEFAULT_INTERVAL_S = 2.0  # Qwen's server names no interval; Qwen Code polls every 2 s
SLOW_DOWN_STEP_S = 5.0  # RFC 8628 section 3.5
MAX_TRANSIENT_POLL_FAILURES = 5

Output = Callable[[str], None]


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float


def pkce_pair() -> tuple[str, str]:
    """A random code verifier and its S256 challenge (RFC 7636)."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return verifier, s256_challenge(verifier)


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def request_device_code(oauth_base: str, *, challenge: str, timeout: float = 30.0,
                        sleep: Sleep = time.sleep) -> DeviceAuthorization:
    fields = {"client_id": CLIENT_ID, "scope": SCOPE, "code_challenge": challenge, "code_challenge_method": "S256"}
    body = request_with_retries(oauth_base + DEVICE_CODE_PATH, fields, timeout=timeout, sleep=sleep, secrets=(),
                                relogin_hint=DISCONTINUED_NOTE, what="requesting a Qwen login code",
                                refused_suffix="")
    try:
        uri = str(body.get("verification_uri") or body["verification_uri_complete"])
        return DeviceAuthorization(
            device_code=str(body["device_code"]),
            user_code=str(body.get("user_code") or ""),
            verification_uri=uri,
            verification_uri_complete=str(body.get("verification_uri_complete") or uri),
            expires_in=float(body.get("expires_in") or 600),
            interval=float(body.get("interval") or DEFAULT_INTERVAL_S),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(f"the Qwen OAuth server sent an unexpected device code answer ({server_message(body)})") from exc


def poll_for_token(
    oauth_base: str,
    device: DeviceAuthorization,
    *,
    verifier: str,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QwenCredentials:
    """Poll the token endpoint until the user approves, the code expires or access is denied."""
    fields = {"grant_type": DEVICE_GRANT_TYPE, "client_id": CLIENT_ID, "device_code": device.device_code,
              "code_verifier": verifier}
    secrets_ = (device.device_code, verifier)
    deadline = clock() + device.expires_in
    interval = device.interval
    failures = 0
    while True:
        sleep(interval)
        if clock() > deadline:
            raise CredentialsError("the login code expired before it was approved", hint="run `qwen-review auth login` again")
        try:
            response = post_form(oauth_base + TOKEN_PATH, fields, timeout=30.0)
        except OSError as exc:
            failures += 1
            if failures > MAX_TRANSIENT_POLL_FAILURES:
                raise ProviderError(f"the Qwen OAuth server is unreachable ({_host(oauth_base)}): {_cause(exc)}") from exc
            continue
        body: Mapping[str, Any] = response.body
        error = str(body.get("error") or "")
        if 200 <= response.status < 300 and not error and body.get("status") != "pending":
            return credentials_from_token(body, previous=None, secrets=secrets_)
        if error == "authorization_pending" or body.get("status") == "pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP_S
            continue
        if error == "expired_token":
            raise CredentialsError("the login code expired before it was approved", hint="run `qwen-review auth login` again")
        if error == "access_denied":
            raise CredentialsError(f"the login was denied ({server_message(body, secrets=secrets_)})",
                                   hint=DISCONTINUED_NOTE)
        if response.status >= 500 or response.status == 429:
            failures += 1
            if failures <= MAX_TRANSIENT_POLL_FAILURES:
                continue
        raise CredentialsError(f"the Qwen login failed ({response.status}: {server_message(body, secrets=secrets_)})",
                               hint=DISCONTINUED_NOTE if response.status == 403 else "run `qwen-review auth login` again")


def device_login(oauth_base: str, *, output: Output, sleep: Sleep = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> QwenCredentials:
    """The whole flow: show the URL and code through `output`, wait for approval, return the credentials."""
    verifier, challenge = pkce_pair()
    device = request_device_code(oauth_base, challenge=challenge, sleep=sleep)
    output(f"Open this page in a browser and approve the login: {device.verification_uri_complete}")
    if device.user_code:
        output(f"If it asks for a code, enter: {device.user_code}")
    output(f"Waiting for approval (the code expires in {int(device.expires_in // 60)} min)...")
    return poll_for_token(oauth_base, device, verifier=verifier, sleep=sleep, clock=clock)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _cause(exc: OSError) -> str:
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return str(cause)[:120] or type(cause).__name__
