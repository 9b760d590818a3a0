"""Form POSTs to the Qwen OAuth server and the refresh-token exchange, with its retry and error policy."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qwen_review import __version__
from qwen_review.errors import ConfigError, CredentialsError, ProviderError
from qwen_review.providers.credentials_file import QwenCredentials
from qwen_review.scrub import scrub

# Qwen Code's public OAuth client and scope (packages/core/src/qwen/qwenOAuth2.ts).
CLIENT_ID = "f0304373b74a44d2b584a3fb70ca9e56"
SCOPE = "openid profile email model.completion"
DEFAULT_OAUTH_BASE_URL = "https://chat.qwen.ai"
DEVICE_CODE_PATH = "/api/v1/oauth2/device/code"
TOKEN_PATH = "/api/v1/oauth2/token"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# Qwen Code falls back to DashScope's compatible mode when a token names no resource_url.
FALLBACK_API_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
DISCONTINUED_NOTE = (
    "the free Qwen OAuth tier was discontinued on 2026-04-15; an account without a paid plan gets no access "
    "(use OPENAI_API_KEY with DashScope or another OpenAI-compatible provider instead)"
)
MAX_RETRIES = 3
MAX_REFUSED_RETRIES = 2
MAX_RETRY_AFTER_S = 30.0

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class FormResponse:
    status: int
    body: Mapping[str, Any]
    retry_after: float | None = None


def oauth_base_url(env: Mapping[str, str]) -> str:
    """The OAuth server: `QWEN_OAUTH_BASE_URL` (a gateway, a test server) or chat.qwen.ai."""
    return (env.get("QWEN_OAUTH_BASE_URL") or DEFAULT_OAUTH_BASE_URL).rstrip("/")


def api_base_url(resource_url: str | None) -> str:
    """`https://{resource_url}/v1`, as Qwen Code derives it: a scheme is kept, `/v1` added when missing."""
    if not resource_url:
        return FALLBACK_API_BASE_URL
    url = resource_url.strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        url = f"https://{url}"
    return url if url.endswith("/v1") else f"{url}/v1"


def post_form(url: str, fields: Mapping[str, str], *, timeout: float) -> FormResponse:
    """POST form fields, return status and JSON body; transport failures raise OSError."""
    try:
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(fields).encode("ascii"),
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": f"qwen-review/{__version__}",
                "x-request-id": str(uuid.uuid4()),
            },
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return FormResponse(response.status, _json_body(response.read()))
    except urllib.error.HTTPError as exc:
        with exc:
            body = _json_body(exc.read())
            return FormResponse(exc.code, body, _retry_after(exc.headers.get("Retry-After")))
    except http.client.HTTPException as exc:  # a truncated or malformed answer: as transient as a reset
        raise ConnectionError(type(exc).__name__) from exc
    except ValueError as exc:
        raise ConfigError(f"not a usable OAuth server URL: {url} (check QWEN_OAUTH_BASE_URL)") from exc


def server_message(body: Mapping[str, Any], *, secrets: Iterable[str] = ()) -> str:
    """The server's own `error: error_description`, short, with any of `secrets` blanked out."""
    parts = [str(body[key]) for key in ("error", "error_description", "message") if body.get(key)]
    text = ": ".join(parts) or str(body.get("_text", "")).strip() or "no details"
    return scrub(text, secrets)[:300]  # scrub first: a cut could leave part of a secret


def exchange_refresh_token(
    creds: QwenCredentials,
    *,
    token_url: str,
    relogin_hint: str,
    timeout: float = 30.0,
    sleep: Sleep = time.sleep,
) -> QwenCredentials:
    """New credentials for `creds.refresh_token`; the refresh token is kept when the server does not rotate it."""
    fields = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token, "client_id": CLIENT_ID}
    secrets = (creds.refresh_token, creds.access_token)
    body = request_with_retries(token_url, fields, timeout=timeout, sleep=sleep, secrets=secrets,
                                relogin_hint=relogin_hint, what="refreshing the Qwen OAuth token")
    return credentials_from_token(body, previous=creds, secrets=secrets)


def credentials_from_token(
    body: Mapping[str, Any], *, previous: QwenCredentials | None, secrets: Iterable[str] = ()
) -> QwenCredentials:
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderError(f"the Qwen OAuth server answered without an access token ({server_message(body, secrets=secrets)})")
    expires_in = body.get("expires_in")
    expiry = int(time.time() * 1000 + float(expires_in) * 1000) if isinstance(expires_in, int | float) else None
    refresh = body.get("refresh_token")
    resource = body.get("resource_url")
    token_type = body.get("token_type")
    base = previous or QwenCredentials()
    return base.with_tokens(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else base.refresh_token,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        resource_url=resource if isinstance(resource, str) and resource else base.resource_url,
        expiry_date=expiry,
    )


def request_with_retries(
    url: str,
    fields: Mapping[str, str],
    *,
    timeout: float,
    sleep: Sleep,
    secrets: Iterable[str],
    relogin_hint: str,
    what: str,
    refused_suffix: str = ": log in again",
) -> Mapping[str, Any]:
    """The 2xx JSON body; 400/401/403 are final (exit 2), other failures retried then exit 3."""
    secrets = tuple(secrets)
    host = urllib.parse.urlsplit(url).netloc
    deadline = time.monotonic() + timeout
    refused = 0
    for attempt in range(MAX_RETRIES + 1):
        remaining = deadline - time.monotonic()
        wait: float | None = None
        try:
            response = post_form(url, fields, timeout=max(1.0, min(remaining, 30.0)))
        except OSError as exc:  # URLError, timeouts, resets: all OSError
            cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(cause, ConnectionRefusedError):
                refused += 1
                failure = f"connection refused by {host}"
                if refused > MAX_REFUSED_RETRIES:
                    raise ProviderError(f"{what} failed: {failure}") from exc
            else:
                failure = f"{host} unreachable ({_reason(cause)})"
        else:
            status, body = response.status, response.body
            if 200 <= status < 300 and "error" not in body:
                return body
            message = server_message(body, secrets=secrets)
            if status in (400, 401) or 200 <= status < 300:
                raise CredentialsError(f"{what} was refused by {host} ({status}: {message}){refused_suffix}",
                                       hint=relogin_hint)
            if status == 403:
                raise CredentialsError(f"{host} denied access ({message})", hint=DISCONTINUED_NOTE)
            if status == 429 and "quota" in message.lower():
                raise ProviderError(f"{what} failed: quota exhausted at {host} ({message})")
            failure = f"{host} answered {status} ({message})"
            wait = response.retry_after
        if attempt == MAX_RETRIES:
            break
        wait = min(wait if wait is not None else 2.0**attempt, MAX_RETRY_AFTER_S)
        if time.monotonic() + wait >= deadline:
            break
        sleep(wait)
    raise ProviderError(f"{what} failed: {failure}")


def _reason(cause: object) -> str:
    text = str(cause)
    return text[:120] if text else type(cause).__name__


def _json_body(raw: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return {"_text": raw[:2000].decode("utf-8", errors="replace")}
    return data if isinstance(data, dict) else {"_text": str(data)[:2000]}


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
