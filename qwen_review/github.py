"""Talk to GitHub with PyGithub: publish a review (one summary comment, one review, no duplicate), store a secret.

This is the only module that imports PyGithub, and only inside functions. PyGithub's own retry
is off: its default re-sends a POST after a 5xx, which duplicates a comment GitHub had already
stored. Every call goes through `_call` instead, which waits out rate limits, retries 5xx and
timeouts with backoff, and retries a write only after checking that the first attempt was not
stored (by the hidden marker the write carries).
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from qwen_review import __version__
from qwen_review.errors import PublishError
from qwen_review.pr_diff import FileLines, PRFile, commentable_lines_from_patches
from qwen_review.pr_state import SummaryState, decode_state, fingerprints_in, is_summary, review_run_in, safe_id
from qwen_review.pr_summary import InlineComment, next_state, plan_publication, render_summary, review_body
from qwen_review.review import Finding
from qwen_review.scrub import scrub

if TYPE_CHECKING:
    import jinja2

DEFAULT_API_URL = "https://api.github.com"
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
    """GitHub refused a request in a way retrying cannot fix; `status` is its HTTP status."""

    def __init__(self, message: str, *, status: int | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class GitHubClient:
    """A PyGithub connection with our retry policy; the token is kept only to scrub it from messages."""

    def __init__(self, github: Any, *, api_url: str, token: str, retry: RetryPolicy) -> None:
        self.github = github
        self.api_url = api_url
        self.retry = retry
        self._token = token

    def scrub(self, text: str) -> str:
        return scrub(text, (self._token,))

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
        raise PublishError("No GitHub token: set GITHUB_TOKEN (the action's github-token input).")
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


def _error(client: GitHubClient, what: str, failure: _Failure, refused_hint: str | None = None) -> GitHubRejected:
    status = failure.status
    detail = f"{status} {failure.message}".strip() if status is not None else failure.message
    if status is None:
        message, hint = f"Cannot reach GitHub at {client.api_url} to {what} ({detail}).", "check GITHUB_API_URL"
    elif status == 401:
        message = "GitHub rejected the token (401 Bad credentials)."
        hint = refused_hint or "check GITHUB_TOKEN / the github-token input"
    elif status in (403, 404):
        message = f"GitHub refused to {what} ({detail})."
        hint = refused_hint or ("the workflow needs `permissions: pull-requests: write`; check GITHUB_REPOSITORY "
                                "and the PR number")
    else:
        message, hint = f"GitHub failed to {what} ({detail}).", None
    return GitHubRejected(client.scrub(message), status=status, hint=hint)


def _call(client: GitHubClient, what: str, request: Callable[[], T],
          stored: Callable[[], T | None] | None = None, *, refused_hint: str | None = None) -> T:
    """Run one API call with retries; a write passes `stored`, which finds it if a failed attempt landed.

    `refused_hint` replaces the default hint (about a pull request's permissions) of a 401, 403 or 404.
    """
    from github import GithubException

    policy = client.retry
    for attempt in itertools.count(1):
        try:
            return request()
        except (GithubException, OSError) as exc:
            failure = _failure(exc, policy, attempt)
            if failure.wait is None or attempt >= policy.attempts:
                raise _error(client, what, failure, refused_hint) from exc
            policy.sleep(failure.wait)
            if failure.ambiguous and stored is not None:
                found = _call(client, f"check whether GitHub stored it ({what})", stored)
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # pragma: no cover


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullRequestInfo:
    number: int
    head_sha: str
    base_sha: str
    draft: bool
    state: str
    head_repository: str | None
    html_url: str


def get_pull_request(client: GitHubClient, *, repository: str, number: int) -> PullRequestInfo:
    """The pull request's heads and state (for `workflow_dispatch`, which only names a number)."""
    def read() -> PullRequestInfo:
        pull = client.github.get_repo(repository).get_pull(number)
        head_repo = pull.head.repo
        return PullRequestInfo(number=pull.number, head_sha=pull.head.sha, base_sha=pull.base.sha,
                               draft=bool(pull.draft), state=pull.state, html_url=pull.html_url,
                               head_repository=head_repo.full_name if head_repo is not None else None)
    return _call(client, "read the pull request", read)


def fetch_pull_files(client: GitHubClient, *, repository: str, number: int) -> list[PRFile]:
    """GitHub's own view of the PR diff: the lines it will accept inline comments on."""
    pull = client.github.get_repo(repository).get_pull(number)
    return _call(client, "read the pull request's files", lambda: [
        PRFile(filename=f.filename, status=f.status, patch=f.patch, previous_filename=f.previous_filename)
        for f in pull.get_files()])


def _by(item: Any, author: str | None) -> bool:
    return author is None or (item.user is not None and item.user.login == author)


def _find_summary(comments: Sequence[Any], author: str | None) -> Any | None:
    return next((c for c in comments if is_summary(c.body) and _by(c, author)), None)


def _read_summary(client: GitHubClient, issue: Any, author: str | None) -> tuple[Any | None, SummaryState]:
    comments = _call(client, "read the pull request's comments", lambda: list(issue.get_comments()))
    summary = _find_summary(comments, author)
    return summary, decode_state(summary.body) if summary is not None else SummaryState()


def read_previous_review(client: GitHubClient, *, repository: str, number: int,
                         author: str | None = None) -> SummaryState:
    """What the summary comment recorded: `head_sha` is the last reviewed head (None on a first run)."""
    issue = client.github.get_repo(repository).get_issue(number)
    return _read_summary(client, issue, author)[1]


# --- secrets ---------------------------------------------------------------------------------

SECRETS_HINT = "QWEN_REVIEW_SECRETS_TOKEN needs the 'Secrets: write' permission on the repository"


def store_repository_secret(client: GitHubClient, *, repository: str, name: str, value: str) -> None:
    """Create or update the Actions secret `name` of `repository`, sealed with its public key by PyGithub."""
    repo = client.github.get_repo(repository)  # lazy: no request yet
    # A PUT of a secret is idempotent: retrying one that GitHub stored before failing cannot duplicate it.
    _call(client, f"store secret {name} in {repository}",
          lambda: repo.create_secret(name, value, secret_type="actions"), refused_hint=SECRETS_HINT)


# --- publishing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishResult:
    comment_url: str
    comment_created: bool
    review_url: str | None
    inline_posted: int
    listed: int  # findings the summary lists, from this run and earlier runs
    rejected: int  # comments GitHub refused, listed in the summary instead
    truncated: bool


def publish_review(client: GitHubClient, *, repository: str, number: int, head_sha: str,
                   findings: Sequence[Finding], summary_markdown: str, max_inline_comments: int,
                   commentable: Mapping[str, FileLines] | None = None, env: jinja2.Environment | None = None,
                   author: str | None = None, run_id: str | None = None,
                   keep_previous_head: bool = False) -> PublishResult:
    """Post the new anchored findings as one review, then create or edit the summary comment.

    `keep_previous_head`: part of `head_sha` went unreviewed (a unit failed), so the summary keeps
    the last completely reviewed head and the next run reviews everything after it again.

    `commentable` is GitHub's view of the diff (`commentable_lines_from_patches(fetch_pull_files(...))`);
    it is fetched when not given. `author` (e.g. "github-actions[bot]") limits which comments count
    as ours, so nobody else's comment can pose as the summary. `env` renders the comment templates
    (default: the packaged ones).
    """
    repo = client.github.get_repo(repository)  # lazy: these objects make no request until used
    issue, pull = repo.get_issue(number), repo.get_pull(number)
    summary, previous = _read_summary(client, issue, author)
    inline_before = _call(client, "read the review comments", lambda: fingerprints_in(
        c.body for c in pull.get_review_comments() if _by(c, author)))

    def github_view() -> Mapping[str, FileLines]:
        return commentable_lines_from_patches(fetch_pull_files(client, repository=repository, number=number))

    plan = plan_publication(findings=findings, previous=previous, already_inline=inline_before,
                            commentable=commentable if commentable is not None else github_view(),
                            max_inline=max_inline_comments, head_sha=head_sha, env=env)
    review_url, posted, rejected = _post_review(client, repo, pull, head_sha=head_sha, comments=plan.inline,
                                                run_id=run_id or uuid.uuid4().hex, github_view=github_view)
    reviewed = previous.head_sha if keep_previous_head else head_sha
    state = next_state(plan, head_sha=reviewed, posted=posted, rejected=rejected)
    body, truncated = render_summary(state=state, summary_markdown=summary_markdown, inline_count=len(posted),
                                     env=env, head_sha=head_sha)
    if summary is not None:
        _call(client, "edit the summary comment", lambda: summary.edit(body))  # PATCH: safe to repeat
        url, created = summary.html_url, False
    else:
        comment = _call(client, "post the summary comment", lambda: issue.create_comment(body),
                        stored=lambda: _find_summary(list(issue.get_comments()), author))
        url, created = comment.html_url, True
    return PublishResult(comment_url=url, comment_created=created, review_url=review_url, inline_posted=len(posted),
                         listed=len(state.listed), rejected=len(rejected), truncated=truncated)


def _post_review(client: GitHubClient, repo: Any, pull: Any, *, head_sha: str, comments: Sequence[InlineComment],
                 run_id: str, github_view: Callable[[], Mapping[str, FileLines]]
                 ) -> tuple[str | None, list[InlineComment], list[InlineComment]]:
    """One COMMENT review; on a 422 the comments GitHub cannot place (all, if unknown) go to the summary."""
    if not comments:
        return None, [], []
    commit = repo.get_commit(head_sha)
    marker_id = safe_id(run_id)

    def create(batch: Sequence[InlineComment]) -> Any:
        body = review_body(run_id, count=len(batch), head_sha=head_sha)
        return _call(client, "post the review",
                     lambda: pull.create_review(commit=commit, body=body, event="COMMENT",
                                                comments=[c.payload() for c in batch]),
                     stored=lambda: next((r for r in pull.get_reviews() if review_run_in(r.body) == marker_id), None))

    try:
        return create(comments).html_url, list(comments), []
    except GitHubRejected as exc:
        if exc.status != 422:
            raise
    # GitHub does not say which comment it refused: check each against its own patches.
    view = github_view()
    good = [c for c in comments if c.fits(view)]
    bad = [c for c in comments if not c.fits(view)]
    if not good or not bad:
        return None, [], list(comments)
    try:
        return create(good).html_url, good, bad
    except GitHubRejected as exc:
        if exc.status != 422:
            raise
        return None, [], list(comments)

