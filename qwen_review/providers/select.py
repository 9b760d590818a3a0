"""Choose the model provider from the environment, in the documented order, or as forced."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from qwen_review.errors import ConfigError, CredentialsError
from qwen_review.pr_actions import in_github_actions
from qwen_review.providers.credentials_file import credentials_path
from qwen_review.providers.oauth_http import Sleep, api_base_url
from qwen_review.providers.qwen_oauth import DEFAULT_OAUTH_MODEL, QwenTokenSource, Warn, display_path, find_login
from qwen_review.scrub import public_url

ProviderKind = Literal["openai", "qwen-oauth"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("openai", "qwen-oauth")
DASHSCOPE_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
DEFAULT_OPENAI_MODEL = "qwen3-coder-plus"
OPENAI_SOURCE = "OPENAI_API_KEY"


@dataclass(frozen=True)
class ProviderConfig:
    """Everything the chat client needs; `api_key` is a secret and never shown."""

    kind: ProviderKind
    base_url: str
    model: str
    api_key: str
    refresh: Callable[[], str] | None
    source: str

    def __repr__(self) -> str:
        refresh = "<callable>" if self.refresh else "None"
        return (f"ProviderConfig(kind={self.kind!r}, base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key='***', refresh={refresh}, source={self.source!r})")

    __str__ = __repr__


def select_provider(
    *,
    forced: str | None,
    model: str | None,
    base_url: str | None,
    env: Mapping[str, str],
    warn: Warn | None = None,
    timeout: float = 60.0,
    sleep: Sleep = time.sleep,
) -> ProviderConfig:
    """The first configured provider (OPENAI_API_KEY, a Qwen OAuth login in the environment, the login file).

    For Qwen OAuth this exchanges the refresh token when the access token is missing or expires within 30 s,
    so the returned key is valid; `refresh` forces a new one after a 401. `base_url` never redirects a
    Qwen OAuth token: its endpoint is the one the token names (`resource_url`).
    """
    kind = forced_kind(forced if forced is not None else env.get("QWEN_REVIEW_PROVIDER"))
    if configured_source(env, forced=forced) == OPENAI_SOURCE:
        return ProviderConfig(
            kind="openai",
            base_url=(base_url or env.get("OPENAI_BASE_URL") or DASHSCOPE_BASE_URL).rstrip("/"),
            model=model or env.get("OPENAI_MODEL") or env.get("QWEN_MODEL") or DEFAULT_OPENAI_MODEL,
            api_key=(env.get("OPENAI_API_KEY") or "").strip(),
            refresh=None,
            source=OPENAI_SOURCE,
        )
    if kind == "openai":
        raise CredentialsError(
            "--provider openai needs OPENAI_API_KEY (any non-empty value for a local server that checks none)",
            hint="use --dry-run to see what would be sent without calling a model",
        )
    if kind is None and base_url:
        # An endpoint was chosen (a local server, say): a Qwen OAuth login must not quietly send the code elsewhere.
        raise CredentialsError(
            f"an OpenAI-compatible endpoint is configured ({public_url(base_url)}) but OPENAI_API_KEY is not set: "
            "set it (any non-empty value for a local server that checks none)",
            hint=("pass the key through the action's `api-key` input from a repository secret"
                  if in_github_actions(env) else
                  "to use the Qwen OAuth login instead, pass --provider qwen-oauth (or set provider = \"qwen-oauth\")"),
        )
    login = find_login(env, warn=warn, timeout=timeout, sleep=sleep)
    if login is None:
        raise no_provider_error(env, forced=kind)
    tokens = QwenTokenSource(login.store)
    creds = tokens.current()
    return ProviderConfig(
        kind="qwen-oauth",
        base_url=api_base_url(creds.resource_url),
        model=model or DEFAULT_OAUTH_MODEL,
        api_key=creds.access_token,
        refresh=tokens.refresh,
        source=login.source,
    )


def configured_source(env: Mapping[str, str], *, forced: str | None = None, base_url: str | None = None) -> str | None:
    """Where the provider of a run would come from, or None; no network, no token is exchanged.

    The one answer to "is a provider configured": `select_provider` follows it, `auth status`
    shows it, and `qwen-review github` asks it before reviewing a fork's pull request. It is
    OPENAI_API_KEY, QWEN_OAUTH_REFRESH_TOKEN, QWEN_OAUTH_CREDS or the credentials file (as shown
    to people), first match unless `forced` (or QWEN_REVIEW_PROVIDER) names a kind. An empty
    value counts as unset, as GitHub passes an unset secret.
    """
    kind = forced_kind(forced if forced is not None else env.get("QWEN_REVIEW_PROVIDER"))
    if kind != "qwen-oauth" and (env.get("OPENAI_API_KEY") or "").strip():
        return OPENAI_SOURCE
    if kind == "openai" or (kind is None and base_url):
        return None  # an endpoint without its key: no provider (a login is not used in its place)
    login = find_login(env)  # builds no client and sends nothing: only says where the login is
    return login.source if login is not None else None


def forced_kind(value: str | None) -> ProviderKind | None:
    if not value or not value.strip():
        return None
    name = value.strip().lower()
    for kind in PROVIDER_KINDS:
        if name == kind:
            return kind
    raise ConfigError(f"unknown provider {value!r} (known: {', '.join(PROVIDER_KINDS)})")


ACTIONS_HINT = ("store the key as a repository secret (Settings > Secrets and variables > Actions) and pass it "
                "to the action: `api-key: ${{ secrets.OPENAI_API_KEY }}` (or `qwen-oauth-refresh-token: "
                "${{ secrets.QWEN_OAUTH_REFRESH_TOKEN }}`); a step that runs qwen-review itself sets OPENAI_API_KEY "
                "from the secret in its `env:`")


def no_provider_error(env: Mapping[str, str], *, forced: ProviderKind | None = None) -> CredentialsError:
    """Exit 2 naming the three ways to configure a provider (in GitHub Actions: the action's inputs and a secret)."""
    creds = display_path(credentials_path(env), env)
    in_actions = in_github_actions(env)  # a runner: no one to run `auth login`, no use for --dry-run
    if forced == "qwen-oauth":
        message = (f"--provider qwen-oauth needs a Qwen OAuth login: QWEN_OAUTH_REFRESH_TOKEN or QWEN_OAUTH_CREDS, "
                   f"or {creds} (`qwen-review auth login`)")
    elif in_actions:
        message = ("No model provider configured: OPENAI_API_KEY and QWEN_OAUTH_REFRESH_TOKEN are empty or unset "
                   "(the action's `api-key` and `qwen-oauth-refresh-token` inputs)")
    else:
        message = (
            "No model provider configured: set OPENAI_API_KEY (with OPENAI_BASE_URL and OPENAI_MODEL for any "
            "OpenAI-compatible endpoint; DashScope by default), or QWEN_OAUTH_REFRESH_TOKEN / QWEN_OAUTH_CREDS "
            f"(Qwen OAuth, e.g. in CI), or log in with `qwen-review auth login` (writes {creds})"
        )
    hint = ACTIONS_HINT if in_actions else "use --dry-run to see what would be sent without calling a model"
    return CredentialsError(message, hint=hint)
