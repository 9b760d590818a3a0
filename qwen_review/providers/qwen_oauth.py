"""Qwen OAuth for a run: where the login comes from, keeping the access token fresh, never losing a rotated refresh token."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qwen_review.errors import CredentialsError, PublishError
from qwen_review.providers.credentials_file import (
    QwenCredentials,
    credentials_lock,
    credentials_path,
    parse_credentials,
    read_credentials,
    write_credentials,
)
from qwen_review.providers.oauth_http import TOKEN_PATH, Sleep, exchange_refresh_token, oauth_base_url

DEFAULT_OAUTH_MODEL = "coder-model"  # the model name Qwen Code sends with a Qwen OAuth login

Warn = Callable[[str], None]
log = logging.getLogger("qwen_review.providers")


class CredentialStore(Protocol):
    def obtain(self, *, force: bool, held: QwenCredentials | None) -> QwenCredentials: ...


@dataclass(frozen=True)
class QwenLogin:
    """Where a Qwen OAuth login was found; `source` is for people (never a token)."""

    store: CredentialStore
    source: str


class QwenTokenSource:
    """The current Qwen credentials of a run; thread-safe, refreshed 30 s before expiry or on demand."""

    def __init__(self, store: CredentialStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._creds: QwenCredentials | None = None

    def current(self) -> QwenCredentials:
        """Credentials whose access token is valid for at least 30 more seconds."""
        with self._lock:
            if self._creds is None or not self._creds.is_fresh():
                self._creds = self._store.obtain(force=False, held=self._creds)
            return self._creds

    def refresh(self) -> str:
        """Force a new access token (after a 401) and return it; the callable handed to the chat client."""
        with self._lock:
            self._creds = self._store.obtain(force=True, held=self._creds)
            return self._creds.access_token


class FileStore:
    """The login file shared with Qwen Code: refreshed under its lock and written back, so a rotation is kept."""

    def __init__(self, path: Path, *, token_url: str, timeout: float, sleep: Sleep) -> None:
        self.path = path
        self._token_url = token_url
        self._timeout = timeout
        self._sleep = sleep

    def obtain(self, *, force: bool, held: QwenCredentials | None) -> QwenCredentials:
        with credentials_lock(self.path):
            # Read again under the lock: another process (or Qwen Code) may have refreshed meanwhile.
            on_disk = read_credentials(self.path)
            if on_disk is None:
                raise CredentialsError(f"{self.path} disappeared: log in again", hint=LOGIN_HINT)
            refreshed_elsewhere = held is None or on_disk.access_token != held.access_token
            if on_disk.is_fresh() and (not force or refreshed_elsewhere):
                return on_disk
            fresh = exchange_refresh_token(on_disk, token_url=self._token_url, relogin_hint=LOGIN_HINT,
                                           timeout=self._timeout, sleep=self._sleep)
            write_credentials(self.path, fresh)
            return fresh


class EnvStore:
    """A login given in the environment (CI): a rotated refresh token goes to a repository secret, or a warning."""

    def __init__(self, initial: QwenCredentials, *, variable: str, token_url: str, on_rotate: Callable[[QwenCredentials], None],
                 timeout: float, sleep: Sleep) -> None:
        self._initial = initial
        self._variable = variable
        self._token_url = token_url
        self._on_rotate = on_rotate
        self._timeout = timeout
        self._sleep = sleep

    def obtain(self, *, force: bool, held: QwenCredentials | None) -> QwenCredentials:
        current = held or self._initial
        if not force and current.is_fresh():
            return current
        what = "refresh_token" if self._variable == "QWEN_OAUTH_REFRESH_TOKEN" else "whole content"
        hint = (f"log in again (`qwen-review auth login`) and put the {what} of the new credentials file "
                f"into the secret behind {self._variable}")
        fresh = exchange_refresh_token(current, token_url=self._token_url, relogin_hint=hint,
                                       timeout=self._timeout, sleep=self._sleep)
        if fresh.refresh_token != current.refresh_token:
            self._on_rotate(fresh)
        return fresh


LOGIN_HINT = "run `qwen-review auth login` (or log in again in Qwen Code)"


def find_login(env: Mapping[str, str], *, warn: Warn | None = None, timeout: float = 60.0,
               sleep: Sleep = time.sleep) -> QwenLogin | None:
    """The Qwen OAuth login to use: QWEN_OAUTH_REFRESH_TOKEN, QWEN_OAUTH_CREDS, then the credentials file."""
    token_url = oauth_base_url(env) + TOKEN_PATH
    warn = warn or log.warning
    for variable in ("QWEN_OAUTH_REFRESH_TOKEN", "QWEN_OAUTH_CREDS"):
        value = (env.get(variable) or "").strip()
        if not value:
            continue
        if variable == "QWEN_OAUTH_REFRESH_TOKEN":
            initial = QwenCredentials(refresh_token=value)
        else:
            initial = parse_credentials(value, source=variable)
        on_rotate = rotation_handler(variable=variable, env=env, warn=warn)
        store = EnvStore(initial, variable=variable, token_url=token_url, on_rotate=on_rotate, timeout=timeout, sleep=sleep)
        return QwenLogin(store=store, source=variable)
    path = credentials_path(env)
    if not path.is_file():
        return None
    file_store = FileStore(path, token_url=token_url, timeout=timeout, sleep=sleep)
    return QwenLogin(store=file_store, source=display_path(path, env))


def rotation_handler(*, variable: str, env: Mapping[str, str], warn: Warn) -> Callable[[QwenCredentials], None]:
    """What to do with a new refresh token that came from a login given in `variable`."""
    secret_name = (env.get("QWEN_OAUTH_SECRET_NAME") or "").strip()
    secrets_token = (env.get("QWEN_REVIEW_SECRETS_TOKEN") or "").strip()
    repository = (env.get("GITHUB_REPOSITORY") or "").strip()
    stale = (f"the secret behind {variable} may now be stale (the Qwen OAuth server issued a new refresh token "
             f"and may reject the old one)")
    advice = (f"set QWEN_OAUTH_SECRET_NAME to that secret's name and QWEN_REVIEW_SECRETS_TOKEN to a token allowed "
              f"to write repository secrets, so qwen-review stores the new token; or log in again and update "
              f"{variable} by hand")

    def handle(fresh: QwenCredentials) -> None:
        from qwen_review.telemetry import ci_variable

        if ci_variable(env) is None:  # a developer's machine: keep the new login where the next run finds it
            keep_locally(fresh)
            return
        if not (secret_name and secrets_token and repository):
            missing = ", ".join(name for name, value in (("QWEN_OAUTH_SECRET_NAME", secret_name),
                                                         ("QWEN_REVIEW_SECRETS_TOKEN", secrets_token),
                                                         ("GITHUB_REPOSITORY", repository)) if not value)
            warn(f"{stale}; {missing} not set: {advice}")
            return
        value = fresh.refresh_token if variable == "QWEN_OAUTH_REFRESH_TOKEN" else fresh.to_json()
        # Imported here: only a run whose refresh token rotated in CI talks to GitHub from this module.
        from qwen_review.github import store_repository_secret
        from qwen_review.github_client import connect

        try:
            with connect(token=secrets_token, api_url=env.get("GITHUB_API_URL"), timeout=15) as client:
                store_repository_secret(client, repository=repository, name=secret_name, value=value)
        except PublishError as exc:
            warn(f"{stale}; storing it into secret {secret_name} failed: {exc.message}")
            return
        log.info("stored the rotated Qwen OAuth refresh token into secret %s of %s", secret_name, repository)

    def keep_locally(fresh: QwenCredentials) -> None:
        path = credentials_path(env)
        shown = display_path(path, env)
        with credentials_lock(path):  # Qwen Code or `auth login` may be writing it right now
            exists = path.exists()
            if not exists:
                write_credentials(path, fresh)
        if exists:  # another login lives there; it is not ours to replace
            warn(f"{stale}; {shown} already holds a login, so the new one was not saved: unset {variable} "
                 "and use that login, or run `qwen-review auth login`")
            return
        warn(f"{stale}; the new login was saved to {shown}: unset {variable} so that later runs use it "
             f"({variable} is meant for CI; on your machine `qwen-review auth login` keeps a login fresh)")

    return handle


def display_path(path: Path, env: Mapping[str, str]) -> str:
    """`~/.qwen/oauth_creds.json` rather than the full home path, for messages."""
    home = env.get("HOME")
    if home:
        try:
            return "~/" + path.relative_to(Path(home)).as_posix()
        except ValueError:
            pass
    return str(path)
