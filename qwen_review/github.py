"""What qwen-review reads and writes on GitHub: the pull request, its one summary comment and review, a secret.

Every request goes through `github_client.call`, which waits out rate limits, retries, and
never sends a write twice; publishing posts one review and creates or edits the one summary
comment, so a re-run or a retry never duplicates either.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qwen_review import output
from qwen_review.github_client import GitHubClient, GitHubRejected, call
from qwen_review.pr_actions import annotate
from qwen_review.pr_diff import FileLines, PRFile, commentable_lines_from_patches
from qwen_review.pr_state import (
    OpenFinding,
    SummaryState,
    decode_state,
    fingerprints_in,
    is_summary,
    review_run_in,
    safe_id,
)
from qwen_review.pr_summary import InlineComment, next_state, plan_publication, render_summary, review_body
from qwen_review.review import Finding

if TYPE_CHECKING:
    import jinja2


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
    return call(client, "read the pull request", read, missing=_pull_request(repository, number))


def fetch_pull_files(client: GitHubClient, *, repository: str, number: int) -> list[PRFile]:
    """GitHub's own view of the PR diff: the lines it will accept inline comments on."""
    pull = client.github.get_repo(repository).get_pull(number)
    return call(client, "read the pull request's files", lambda: [
        PRFile(filename=f.filename, status=f.status, patch=f.patch, previous_filename=f.previous_filename)
        for f in pull.get_files()], missing=_pull_request(repository, number))


def _pull_request(repository: str, number: int) -> str:
    return f"pull request #{number} in {repository}"


def _ours(client: GitHubClient, items: Sequence[Any], author: str | None) -> list[Any]:
    """The comments qwen-review wrote: `author`'s; without it, the token's user's, which GitHub names for a
    personal token; an app's token (GITHUB_TOKEN, a GitHub App's) writes as a bot, so then any bot's."""
    if not items:
        return []  # nothing to tell apart: no need to ask GitHub whose token this is
    login = _login(client, author)
    if login is not None:
        return [c for c in items if c.user is not None and c.user.login == login]
    if client.token_user().app:
        return [c for c in items if c.user is not None and c.user.type == "Bot"]
    return list(items)


def _login(client: GitHubClient, author: str | None) -> str | None:
    return author if author is not None else client.token_user().login


def _summaries(client: GitHubClient, comments: Sequence[Any], author: str | None) -> list[Any]:
    """The comments that carry the summary marker and count as ours, oldest first."""
    return _ours(client, [c for c in comments if is_summary(c.body)], author)


def _read_summary(client: GitHubClient, issue: Any, author: str | None, *, missing: str
                  ) -> tuple[list[Any], SummaryState]:
    comments = call(client, "read the pull request's comments", lambda: list(issue.get_comments()), missing=missing)
    summaries = _summaries(client, comments, author)
    return summaries, decode_state(summaries[0].body) if summaries else SummaryState()


def read_previous_review(client: GitHubClient, *, repository: str, number: int,
                         author: str | None = None) -> SummaryState:
    """What the summary comment recorded: `head_sha` is the last reviewed head (None on a first run)."""
    issue = client.github.get_repo(repository).get_issue(number)
    return _read_summary(client, issue, author, missing=_pull_request(repository, number))[1]


# --- secrets ---------------------------------------------------------------------------------

SECRETS_HINT = "QWEN_REVIEW_SECRETS_TOKEN needs the 'Secrets: write' permission on the repository"


def store_repository_secret(client: GitHubClient, *, repository: str, name: str, value: str) -> None:
    """Create or update the Actions secret `name` of `repository`, sealed with its public key by PyGithub."""
    repo = client.github.get_repo(repository)  # lazy: no request yet
    # A PUT of a secret is idempotent: retrying one that GitHub stored before failing cannot duplicate it.
    call(client, f"store secret {name} in {repository}",
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
    open: tuple[OpenFinding, ...] = ()  # what counts for the pull request now (pr_summary.open_findings)


def publish_review(client: GitHubClient, *, repository: str, number: int, head_sha: str,
                   findings: Sequence[Finding], summary_markdown: str, max_inline_comments: int,
                   commentable: Mapping[str, FileLines] | None = None, env: jinja2.Environment | None = None,
                   author: str | None = None, run_id: str | None = None,
                   keep_previous_head: bool = False,
                   still_open: Callable[[OpenFinding], bool] = lambda _: True) -> PublishResult:
    """Post the new anchored findings as one review, then create or edit the summary comment.

    `keep_previous_head`: part of `head_sha` went unreviewed (a unit failed), so the summary keeps
    the last completely reviewed head and the next run reviews everything after it again.
    `still_open`: whether an earlier run's finding still stands (see `pr._still_open`).

    `commentable` is GitHub's view of the diff (`commentable_lines_from_patches(fetch_pull_files(...))`);
    it is fetched when not given. `author` (e.g. "github-actions[bot]") limits which comments count
    as ours, so nobody else's comment can pose as the summary; without it GitHub is asked (`_ours`).
    `env` renders the comment templates (default: the packaged ones).
    """
    repo = client.github.get_repo(repository)  # lazy: these objects make no request until used
    issue, pull = repo.get_issue(number), repo.get_pull(number)
    summaries, previous = _read_summary(client, issue, author, missing=_pull_request(repository, number))
    review_comments = call(client, "read the review comments", lambda: list(pull.get_review_comments()))
    inline_before = fingerprints_in(c.body for c in _ours(client, review_comments, author))

    def github_view() -> Mapping[str, FileLines]:
        return commentable_lines_from_patches(fetch_pull_files(client, repository=repository, number=number))

    plan = plan_publication(findings=findings, previous=previous, already_inline=inline_before,
                            commentable=commentable if commentable is not None else github_view(),
                            max_inline=max_inline_comments, head_sha=head_sha, env=env,
                            still_open=still_open)
    review_url, posted, rejected = _post_review(client, repo, pull, head_sha=head_sha, comments=plan.inline,
                                                run_id=run_id or uuid.uuid4().hex, github_view=github_view)
    reviewed = previous.head_sha if keep_previous_head else head_sha
    state = next_state(plan, head_sha=reviewed, posted=posted, rejected=rejected)
    body, truncated = render_summary(state=state, summary_markdown=summary_markdown, inline_count=len(posted),
                                     env=env, head_sha=head_sha)
    url, created = _write_summary(client, issue, summaries, body, author)
    return PublishResult(comment_url=url, comment_created=created, review_url=review_url, inline_posted=len(posted),
                         listed=len(state.listed), rejected=len(rejected), truncated=truncated, open=state.open)


def _write_summary(client: GitHubClient, issue: Any, summaries: Sequence[Any], body: str,
                   author: str | None) -> tuple[str, bool]:
    """Edit the first summary comment the token may edit, else create one; (its URL, whether created)."""
    for summary in summaries:
        try:
            call(client, "edit the summary comment", functools.partial(summary.edit, body))  # PATCH: safe to repeat
        except GitHubRejected as exc:
            if exc.status != 403 or "rate limit" in exc.detail.lower() or _login(client, author) is not None:
                raise  # the token's own comment: it cannot write at all
            # Someone else's comment that starts with our marker, taken for ours because the token's
            # login is unknown (an app's token without QWEN_REVIEW_GITHUB_LOGIN): leave it alone.
            who = summary.user.login if summary.user is not None else "someone else"
            output.warn(f"a comment by {who} starts with qwen-review's hidden marker, but the token cannot edit it "
                        f"({exc.detail}): left alone; set QWEN_REVIEW_GITHUB_LOGIN to the token's login")
            continue
        return summary.html_url, False
    known = {summary.id for summary in summaries}
    comment = call(client, "post the summary comment", lambda: issue.create_comment(body),
                   stored=lambda: next((c for c in _summaries(client, list(issue.get_comments()), author)
                                        if c.id not in known), None))
    kept = _keep_oldest(client, issue, comment, author)
    return kept.html_url, kept.id == comment.id


def _keep_oldest(client: GitHubClient, issue: Any, created: Any, author: str | None) -> Any:
    """Two runs at once can each create a summary comment: keep the oldest of ours, delete the newer ones.

    Ours: those `_summaries` counts, by the login that wrote `created`; nobody else's comment is deleted.
    """
    login = created.user.login if created.user is not None else None
    listed = call(client, "read the pull request's comments", lambda: list(issue.get_comments()))
    mine = {c.id: c for c in _summaries(client, listed, author) if c.user is not None and c.user.login == login}
    mine.setdefault(created.id, created)  # the listing may not show it yet
    oldest, *newer = (mine[key] for key in sorted(mine))
    for duplicate in newer:
        try:
            call(client, "delete a duplicate summary comment", duplicate.delete)
        except GitHubRejected as exc:
            if exc.status != 404:  # 404: the other run deleted it first
                raise
    if newer:
        output.warn(f"another run created a summary comment at the same time: kept {oldest.html_url}, deleted "
                    f"{len(newer)} newer one(s) (a `concurrency` group in the workflow avoids parallel runs)")
    return oldest


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
        return call(client, "post the review",
                    lambda: pull.create_review(commit=commit, body=body, event="COMMENT",
                                               comments=[c.payload() for c in batch]),
                    stored=lambda: next((r for r in pull.get_reviews() if review_run_in(r.body) == marker_id), None))

    try:
        return create(comments).html_url, list(comments), []
    except GitHubRejected as exc:
        if exc.status != 422:
            raise
        refusal = exc.detail
    # GitHub does not say which comment it refused: check each against its own patches.
    view = github_view()
    good = [c for c in comments if c.fits(view)]
    bad = [c for c in comments if not c.fits(view)]
    if good and bad:
        try:
            url = create(good).html_url
        except GitHubRejected as exc:
            if exc.status != 422:
                raise
            refusal = exc.detail
        else:
            _warn(f"GitHub refused the review ({refusal}): {len(bad)} comment(s) it cannot place on the diff are "
                  f"listed in the summary comment instead; the other {len(good)} were posted")
            return url, good, bad
    _warn(f"GitHub refused the review ({refusal}): its {len(comments)} comment(s) are listed in the summary "
          "comment instead")
    return None, [], list(comments)


def _warn(message: str) -> None:
    """A refusal the run survives still deserves a line in the log and an annotation."""
    output.warn(message)
    annotate("warning", message)

