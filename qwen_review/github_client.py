"""The connection to GitHub and the way every request goes through it: waiting, retrying, never a duplicate write.

This is the only module that imports PyGithub, and only inside functions. PyGithub's own retry
is off: its default re-sends a POST after a 5xx, which duplicates a comment GitHub had already
stored. Every call goes through `call` instead, which waits out rate limits, retries 5xx and
timeouts with backoff, and retries a write only after checking that the first attempt was not
stored (by the hidden marker the write carries).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from qwen_review import __version__
from qwen_review.errors import EXIT_USAGE, PublishError
from qwen_review.scrub import scrub

DEFAULT_API_URL = "https://api.github.com"
TOKEN_HINT = "check GITHUB_TOKEN / the github-token input"
PERMISSION_HINT = ("give the workflow `permissions: pull-requests: write` (a personal or app token needs "
                   "\"Pull requests: write\" on the repository)")
NOT_FOUND_HINT = ("check the pull request number (--pr, or the workflow_dispatch input) and GITHUB_REPOSITORY; "
                  "a token of another owner, or a fine-grained token without access to the repository, gets 404 too")
# GitHub's words in a 403 for a token that lacks a permission (an Actions or App token, a fine-grained
# token; admin-only endpoints such as secrets), as opposed to a rate limit or a locked conversation.
_PERMISSION_MESSAGES = ("resource not accessible by", "must have admin rights")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying; tests pass tiny delays and a recording `sleep`."""

    attempts: int = 5  # per call, the first one included
    backoff: float = 2.0  # first wait after a 5xx or a timeout, doubled each time
    max_backoff: float = 60.0
    secondary_wait: float = 60.0  # GitHub: wait at least a minute when a secondary limit gives no retry-after
    max_rate_limit_wait: float = 600.0  # never wait longer than this for a rate limit to reset
    sleep: Callable[[float], None] = time.sleep


class GitHubRejected(PublishError):
    """GitHub refused a request in a way retrying cannot fix; `status` is its HTTP status, `detail` its words."""

    def __init__(self, message: str, *, status: int | None, hint: str | None = None, detail: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.detail = detail  # "422 Unprocessable Entity: ...", scrubbed like the message


class GitHubTokenError(GitHubRejected):
    """The GitHub token is missing, rejected (401) or lacks a permission (403): a configuration error, exit 2.

    Still a PublishError, so whoever handles GitHub's refusals (the fork notice, the rotated-token
    warning) handles these too; but `--on-error warn`, meant for failures, does not soften it.
    """

    exit_code = EXIT_USAGE


class GitHubNotFound(GitHubRejected):
    """What the run names does not exist on GitHub, or the token cannot see it (404): an input error, exit 2."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class TokenUser:
    """Whom the token writes as, as far as GitHub tells it: a personal token's `login`, or that it is an
    app's token (`app`: GITHUB_TOKEN, a GitHub App's), which may not read GET /user and writes as a bot."""

    login: str | None
    app: bool


class GitHubClient:
    """A PyGithub connection with our retry policy; the token is kept only to scrub it from messages."""

    def __init__(self, github: Any, *, api_url: str, token: str, retry: RetryPolicy) -> None:
        self.github = github
        self.api_url = api_url
        self.retry = retry
        self._token = token
        self._user: TokenUser | None = None

    def scrub(self, text: str) -> str:
        return scrub(text, (self._token,))

    def token_user(self) -> TokenUser:
        """GET /user, once per connection; a token GitHub rejects (401) stays an error."""
        if self._user is None:
            try:
                login = call(self, "read the token's user", lambda: str(self.github.get_user().login))
                self._user = TokenUser(login=login, app=False)
            except GitHubRejected as exc:
                if exc.status == 401:
                    raise
                self._user = TokenUser(login=None, app=exc.status == 403)
        return self._user

    def close(self) -> None:
        self.github.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(*, token: str, api_url: str | None = None, timeout: float = 30.0,
            retry: RetryPolicy | None = None, write_interval: float = 1.0) -> GitHubClient:
    """A client for github.com or GitHub Enterprise (`GITHUB_API_URL`; empty: github.com); no request is made yet."""
    if not token:
        raise GitHubTokenError("No GitHub token: set GITHUB_TOKEN (the action's github-token input).", status=None,
                               hint="outside Actions, export GITHUB_TOKEN: a token that can read the pull request "
                                    "(and write to it, unless --dry-run)")
    import github

    api_url = (api_url or "").strip().rstrip("/") or DEFAULT_API_URL
    client = github.Github(
        base_url=api_url, auth=github.Auth.Token(token),
        timeout=max(1, math.ceil(timeout)), retry=None, lazy=True, per_page=100,
        user_agent=f"qwen-review/{__version__}", seconds_between_requests=None,
        # GitHub asks for a pause between content-creating requests to stay clear of secondary limits.
        seconds_between_writes=write_interval or None)
    return GitHubClient(client, api_url=api_url, token=token, retry=retry or RetryPolicy())


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Failure:
    wait: float | None  # None: retrying cannot help
    ambiguous: bool  # the request may have been stored before it failed (5xx, timeout)
    status: int | None
    message: str


def _message(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    errors = data.get("errors")
    details = [e.get("message", "") if isinstance(e, dict) else str(e) for e in errors] if isinstance(errors, list) else []
    text = ": ".join(part for part in [str(data.get("message") or ""), "; ".join(filter(None, details))] if part)
    return " ".join(text.split())[:200]


def _failure(exc: Exception, policy: RetryPolicy, attempt: int) -> _Failure:
    from github import GithubException

    backoff = min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1))
    if not isinstance(exc, GithubException):  # requests' errors are OSErrors: timeouts, dropped connections
        return _Failure(backoff, True, None, type(exc).__name__)
    status, headers, message = exc.status, exc.headers or {}, _message(exc.data)
    if status in (403, 429):
        retry_after = _seconds(headers.get("retry-after"))
        if retry_after is not None:
            return _bounded(retry_after, policy, status, message)
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(headers.get("x-ratelimit-reset"))
            wait = max(0.0, (reset or 0.0) - time.time()) + 1.0  # the reset time has one-second granularity
            return _bounded(wait, policy, status, message)
        if status == 429 or "secondary rate limit" in message.lower():
            return _bounded(policy.secondary_wait * 2 ** (attempt - 1), policy, status, message)
    if status >= 500:
        return _Failure(backoff, True, status, message)
    return _Failure(None, False, status, message)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _bounded(wait: float, policy: RetryPolicy, status: int, message: str) -> _Failure:
    if wait > policy.max_rate_limit_wait:
        return _Failure(None, False, status, f"rate limited for {int(wait)} s more ({message})")
    return _Failure(wait, False, status, message)


def _error(client: GitHubClient, what: str, failure: _Failure, refused_hint: str | None = None,
           missing: str | None = None) -> GitHubRejected:
    status = failure.status
    detail = client.scrub(f"{status} {failure.message}".strip() if status is not None else failure.message)
    if status == 404 and missing is not None:
        return GitHubNotFound(client.scrub(f"GitHub has no {missing}, or the token cannot see it ({detail})."),
                              status=status, hint=NOT_FOUND_HINT)
    if status == 401:
        return GitHubTokenError("GitHub rejected the token (401 Bad credentials).", status=status,
                                hint=refused_hint or TOKEN_HINT)
    if status == 403 and any(words in failure.message.lower() for words in _PERMISSION_MESSAGES):
        return GitHubTokenError(client.scrub(f"The GitHub token lacks the permission to {what} ({detail})."),
                                status=status, hint=refused_hint or PERMISSION_HINT)
    if status is None:
        message, hint = f"Cannot reach GitHub at {client.api_url} to {what} ({detail}).", "check GITHUB_API_URL"
    elif status in (403, 404):
        message = f"GitHub refused to {what} ({detail})."
        hint = refused_hint or ("the workflow needs `permissions: pull-requests: write`; check GITHUB_REPOSITORY "
                                "and the PR number")
    else:
        message, hint = f"GitHub failed to {what} ({detail}).", None
    return GitHubRejected(client.scrub(message), status=status, hint=hint, detail=detail)


def call(client: GitHubClient, what: str, request: Callable[[], T],
         stored: Callable[[], T | None] | None = None, *, refused_hint: str | None = None,
         missing: str | None = None) -> T:
    """Run one API call with retries; a write passes `stored`, which finds it if a failed attempt landed.

    `refused_hint` replaces the default hint (about a pull request's permissions) of a 401, 403 or 404.
    `missing` names what a read needs to exist (e.g. "pull request #8 in octo/demo"): its 404 is then
    an input error (exit 2), not a refusal.
    """
    from github import GithubException

    policy = client.retry
    for attempt in itertools.count(1):
        try:
            return request()
        except (GithubException, OSError) as exc:
            failure = _failure(exc, policy, attempt)
            if failure.wait is None or attempt >= policy.attempts:
                raise _error(client, what, failure, refused_hint, missing) from exc
            policy.sleep(failure.wait)
            if failure.ambiguous and stored is not None:
                found = call(client, f"check whether GitHub stored it ({what})", stored)
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # pragma: no cover
