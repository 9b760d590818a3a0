"""`qwen-review auth login | status | logout`: the logic, returning data; the CLI prints it."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qwen_review.errors import CredentialsError
from qwen_review.providers.credentials_file import (
    QwenCredentials,
    credentials_lock,
    credentials_path,
    parse_credentials,
    read_credentials,
    remove_credentials,
    write_credentials,
)
from qwen_review.providers.oauth_device import device_login
from qwen_review.providers.oauth_http import api_base_url, oauth_base_url
from qwen_review.providers.qwen_oauth import DEFAULT_OAUTH_MODEL, display_path
from qwen_review.providers.select import (
    DASHSCOPE_BASE_URL,
    DEFAULT_OPENAI_MODEL,
    OPENAI_SOURCE,
    configured_source,
    forced_kind,
)
from qwen_review.telemetry import ci_variable, describe_sink, telemetry_state

QWEN_TERMS = "https://qwen.ai/termsservice"
QWEN_PRIVACY = "https://qwen.ai/privacypolicy"
CI_ALTERNATIVE = ("in CI use OPENAI_API_KEY, or QWEN_OAUTH_REFRESH_TOKEN (the refresh_token of a login made "
                  "on your own machine, stored as a secret)")
Output = Callable[[str], None]


@dataclass(frozen=True)
class AuthStatus:
    """What `auth status` shows; holds no token."""

    provider: str
    source: str | None
    model: str | None
    endpoint_host: str | None
    token_expiry: str
    terms: str
    telemetry_enabled: bool
    telemetry_reason: str
    telemetry_sink: str

    def lines(self) -> list[str]:
        return [
            f"provider: {self.provider}" + (f" (from {self.source})" if self.source else ""),
            f"model: {self.model or '-'}",
            f"endpoint host: {self.endpoint_host or '-'}",
            f"token expiry: {self.token_expiry}",
            f"terms and privacy: {self.terms}",
            "sent to the model: the redacted diff and the review instructions, nothing else (docs/privacy.md)",
            f"telemetry: {self.telemetry_reason}" + (f"; sink: {self.telemetry_sink}" if self.telemetry_enabled else ""),
        ]


def auth_status(*, env: Mapping[str, str], model: str | None = None, base_url: str | None = None,
                forced: str | None = None, telemetry_setting: bool = False) -> AuthStatus:
    """The provider a run would use and how its login stands, without any network call."""
    enabled, reason = telemetry_state(telemetry_setting, env)
    common: dict[str, Any] = {"telemetry_enabled": enabled, "telemetry_reason": reason, "telemetry_sink": describe_sink(env)}
    kind = forced_kind(forced if forced is not None else env.get("QWEN_REVIEW_PROVIDER"))
    source = configured_source(env, forced=forced, base_url=base_url)  # the choice select_provider makes
    if source == OPENAI_SOURCE or kind == "openai" or (kind is None and base_url):
        url = base_url or env.get("OPENAI_BASE_URL") or DASHSCOPE_BASE_URL
        host = _host(url)
        return AuthStatus(provider="openai", source=source,
                          model=model or env.get("OPENAI_MODEL") or env.get("QWEN_MODEL") or DEFAULT_OPENAI_MODEL,
                          endpoint_host=host, token_expiry="none (API key)" if source else "OPENAI_API_KEY is not set",
                          terms=provider_terms(host), **common)
    if source is None:
        return AuthStatus(provider="none", source=None, model=None, endpoint_host=None,
                          token_expiry="not logged in: set OPENAI_API_KEY, QWEN_OAUTH_REFRESH_TOKEN or "
                                       "QWEN_OAUTH_CREDS, or run `qwen-review auth login`",
                          terms="none yet (depends on the provider you configure)", **common)
    creds = _login_credentials(env, source)
    known_host = creds is not None and creds.resource_url is not None
    return AuthStatus(
        provider="qwen-oauth", source=source, model=model or DEFAULT_OAUTH_MODEL,
        endpoint_host=_host(api_base_url(creds.resource_url)) if creds and known_host else "named by the token at run time",
        token_expiry=_expiry(creds),
        terms=f"Qwen Terms of Service {QWEN_TERMS} and Privacy Policy {QWEN_PRIVACY}", **common)


def provider_terms(host: str) -> str:
    """Whose terms apply to an OpenAI-compatible endpoint, judged by its host."""
    if host in {"localhost", "127.0.0.1", "::1", "[::1]"} or host.startswith("127."):
        return "a server on this machine: the code does not leave it (the server software's own license applies)"
    if host.endswith(("dashscope.aliyuncs.com", "dashscope-intl.aliyuncs.com", "dashscope-us.aliyuncs.com")):
        return "Alibaba Cloud Model Studio (DashScope): Alibaba Cloud's terms of service and privacy policy"
    if host == "api.openai.com":
        return "OpenAI: https://openai.com/policies/terms-of-use and https://openai.com/policies/privacy-policy"
    return f"the terms of service and privacy policy of the provider at {host}"


def auth_login(*, env: Mapping[str, str], output: Output, is_tty: bool, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> str:
    """Run the device flow and save the login where Qwen Code keeps it; returns that path for display."""
    ci = ci_variable(env)
    if ci:
        raise CredentialsError(f"`auth login` needs a person at a browser and does not run in CI ({ci} is set)",
                               hint=CI_ALTERNATIVE)
    if not is_tty:
        raise CredentialsError("`auth login` needs an interactive terminal", hint=CI_ALTERNATIVE)
    creds = device_login(oauth_base_url(env), output=output, sleep=sleep, clock=clock)
    path = credentials_path(env)
    with credentials_lock(path):
        write_credentials(path, creds)
    shown = display_path(path, env)
    output(f"Logged in; saved to {shown} (shared with Qwen Code).")
    output(f"Qwen's Terms of Service ({QWEN_TERMS}) and Privacy Policy ({QWEN_PRIVACY}) apply to reviews made with it.")
    return shown


@dataclass(frozen=True)
class LogoutResult:
    path: str
    removed: bool
    env_login: str | None

    def message(self) -> str:
        text = (f"Removed {self.path} (Qwen Code shares this login and is logged out too)." if self.removed
                else f"Not logged in: {self.path} does not exist.")
        if self.env_login:
            text += f" {self.env_login} is still set in the environment and still logs in."
        return text


def auth_logout(*, env: Mapping[str, str]) -> LogoutResult:
    path = credentials_path(env)
    with credentials_lock(path):
        removed = remove_credentials(path)
    env_login = next((name for name in ("QWEN_OAUTH_REFRESH_TOKEN", "QWEN_OAUTH_CREDS") if env.get(name)), None)
    return LogoutResult(path=display_path(path, env), removed=removed, env_login=env_login)


def _login_credentials(env: Mapping[str, str], source: str) -> QwenCredentials | None:
    """What a Qwen OAuth login's `source` holds; a bare refresh token tells nothing until it is exchanged."""
    if source == "QWEN_OAUTH_REFRESH_TOKEN":
        return None
    if source == "QWEN_OAUTH_CREDS":
        return parse_credentials(env["QWEN_OAUTH_CREDS"], source="QWEN_OAUTH_CREDS")
    return read_credentials(credentials_path(env))


def _expiry(creds: QwenCredentials | None) -> str:
    if creds is None or creds.expiry_date is None:
        return "unknown until the refresh token is exchanged (at the start of each run)"
    when = datetime.fromtimestamp(creds.expiry_date / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if creds.is_fresh(margin_s=0):
        return f"access token valid until {when}"
    return f"access token expired at {when} (refreshed automatically at the next run)"


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url
