"""Publishing against the fake GitHub API, with PyGithub pointed at it as at GitHub Enterprise."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from qwen_review.errors import PublishError
from qwen_review.github import (
    PublishResult,
    fetch_pull_files,
    get_pull_request,
    publish_review,
    read_previous_review,
    store_repository_secret,
)
from qwen_review.github_client import GitHubClient, GitHubRejected, GitHubTokenError, RetryPolicy, connect
from qwen_review.pr_diff import PRFile, commentable_lines_from_patches
from qwen_review.pr_state import decode_state, fingerprint_in
from qwen_review.review import Finding
from tests.fakes.github_server import BOT_LOGIN, TOKEN, FakeGitHub, files_from_git_diff
from tests.fakes.github_server import github_server_fixture as github_server_fixture  # the `github_server` fixture
from tests.gitrepo import GitRepo

REPO = "octo/demo"
REVIEWS = f"/repos/{REPO}/pulls/7/reviews"
ISSUE_COMMENTS = f"/repos/{REPO}/issues/7/comments"


@dataclass
class PullRequest:
    server: FakeGitHub
    repo: GitRepo
    base: str
    head: str

    def push(self, lines: list[str]) -> None:
        self.repo.write("app.py", "".join(lines))
        self.head = self.repo.commit("push")
        diff = self.repo.git("diff", "-M", f"{self.base}...{self.head}")
        self.server.set_pull(REPO, 7, head_sha=self.head, base_sha=self.base, files=files_from_git_diff(diff))


def original() -> list[str]:
    return [f"line {i}\n" for i in range(1, 41)]


def first_push() -> list[str]:
    """Hunks (new side): 2-8 (5 changed), 17-22 (old 20 deleted), 27-34 (30-31 added)."""
    lines = original()
    lines[4] = "changed 5\n"
    del lines[19]
    lines[29:29] = ["added A\n", "added B\n"]
    return lines


@pytest.fixture
def pull(github_server: FakeGitHub, repo: GitRepo) -> PullRequest:
    repo.write("app.py", "".join(original()))
    base = repo.commit("base")
    pr = PullRequest(github_server, repo, base, base)
    pr.push(first_push())
    github_server.max_per_page = 2  # every listing takes several pages
    return pr


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(github_server: FakeGitHub, sleeps: list[float]) -> Iterator[GitHubClient]:
    policy = RetryPolicy(attempts=4, backoff=0.25, secondary_wait=3.0, max_rate_limit_wait=120.0, sleep=sleeps.append)
    with connect(token=TOKEN, api_url=github_server.base_url, write_interval=0, retry=policy) as github:
        yield github


def finding(fp: str, line: int | None, *, end_line: int | None = None, side: str = "RIGHT", severity: str = "medium",
            title: str | None = None, body: str = "Explanation.", suggestion: str | None = None) -> Finding:
    return Finding(path="app.py", line=line, end_line=end_line, side=side, severity=severity,  # type: ignore[arg-type]
                   category="bug", title=title or f"Finding {fp}", body=body, suggestion=suggestion,
                   anchored=line is not None, fingerprint=fp)


def first_findings() -> list[Finding]:
    return [finding("fp-a", 5, severity="high", suggestion="changed = 5\n"),
            finding("fp-b", 30, end_line=31),
            finding("fp-c", 20, side="LEFT", severity="low", suggestion="never shown"),
            finding("fp-d", None, severity="info", title="Loose end")]


def publish(client: GitHubClient, pull: PullRequest, findings: Sequence[Finding], **options: Any) -> PublishResult:
    arguments: dict[str, Any] = {"repository": REPO, "number": 7, "head_sha": pull.head, "findings": findings,
                                 "summary_markdown": "Overall the change looks fine.", "max_inline_comments": 10}
    return publish_review(client, **{**arguments, **options})


def summaries(server: FakeGitHub) -> list[str]:
    return [c["body"] for c in server.issue_comments[(REPO, 7)] if c["body"].startswith("<!-- qwen-review:summary")]


def statuses(server: FakeGitHub, method: str, path: str) -> list[int]:
    return [r.status for r in server.calls(method, path)]


def test_first_run_posts_one_review_and_the_summary(github_server: FakeGitHub, pull: PullRequest,
                                                    client: GitHubClient) -> None:
    result = publish(client, pull, first_findings())
    assert (result.inline_posted, result.listed, result.rejected, result.comment_created) == (3, 1, 0, True)
    [review] = github_server.reviews[(REPO, 7)]
    assert review["commit_id"] == pull.head and review["state"] == "COMMENTED" and result.review_url == review["html_url"]
    comments = {fingerprint_in(c["body"]): c for c in github_server.review_comments[(REPO, 7)]}
    assert [fingerprint_in(c["body"]) for c in github_server.review_comments[(REPO, 7)]] == ["fp-a", "fp-b", "fp-c"]
    assert (comments["fp-a"]["line"], comments["fp-a"]["side"], "start_line" in comments["fp-a"]) == (5, "RIGHT", False)
    assert (comments["fp-b"]["start_line"], comments["fp-b"]["line"], comments["fp-b"]["start_side"]) == (30, 31, "RIGHT")
    assert (comments["fp-c"]["line"], comments["fp-c"]["side"]) == (20, "LEFT")
    assert "```suggestion\nchanged = 5\n```" in comments["fp-a"]["body"] and "suggestion" not in comments["fp-c"]["body"]
    [summary] = summaries(github_server)
    assert result.comment_url.endswith(f"#issuecomment-{github_server.issue_comments[(REPO, 7)][0]['id']}")
    assert "Loose end" in summary and "Overall the change looks fine." in summary
    state = decode_state(summary)
    assert state.head_sha == pull.head and state.posted == {"fp-a", "fp-b", "fp-c"}
    assert [e.fingerprint for e in state.listed] == ["fp-d"]
    assert 422 not in [r.status for r in github_server.requests]


def test_rerun_with_the_same_findings_edits_the_summary_and_posts_nothing(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    for index in range(5):  # the summary ends up on a later page of the comments
        github_server.add_issue_comment(REPO, 7, f"discussion {index}")
    first = publish(client, pull, first_findings())
    again = publish(client, pull, first_findings())
    assert (again.inline_posted, again.comment_created, again.review_url) == (0, False, None)
    assert again.comment_url == first.comment_url and len(summaries(github_server)) == 1
    assert len(github_server.reviews[(REPO, 7)]) == 1 and len(github_server.calls("POST", REVIEWS)) == 1
    assert statuses(github_server, "PATCH", f"/repos/{REPO}/issues/comments/{first.comment_url.rsplit('-', 1)[1]}") \
        == [200]


def test_a_new_push_posts_only_new_findings_and_keeps_earlier_summary_entries(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    first_head = pull.head
    assert read_previous_review(client, repository=REPO, number=7).head_sha is None
    publish(client, pull, first_findings())
    assert read_previous_review(client, repository=REPO, number=7).head_sha == first_head
    lines = first_push()
    lines[35] = "changed again\n"
    pull.push(lines)
    later = [finding("fp-a", 5, severity="high"), finding("fp-new", 36, severity="critical")]
    result = publish(client, pull, later)
    assert result.inline_posted == 1 and len(github_server.reviews[(REPO, 7)]) == 2
    assert fingerprint_in(github_server.review_comments[(REPO, 7)][-1]["body"]) == "fp-new"
    [summary] = summaries(github_server)
    state = decode_state(summary)
    assert state.head_sha == pull.head and state.posted == {"fp-a", "fp-b", "fp-c", "fp-new"}
    assert [e.fingerprint for e in state.listed] == ["fp-d"] and f"found at `{first_head[:12]}`" in summary
    assert read_previous_review(client, repository=REPO, number=7).head_sha == pull.head


def test_findings_off_the_diff_go_to_the_summary_without_a_422(github_server: FakeGitHub, pull: PullRequest,
                                                               client: GitHubClient) -> None:
    off = finding("fp-off", 12, severity="critical", title="Between hunks")
    result = publish(client, pull, [off, finding("fp-a", 5)])
    assert (result.inline_posted, result.listed) == (1, 1)
    assert "Between hunks" in summaries(github_server)[0]
    assert 422 not in [r.status for r in github_server.requests]


def test_inline_cap_keeps_the_most_severe_and_lists_the_rest(github_server: FakeGitHub, pull: PullRequest,
                                                             client: GitHubClient) -> None:
    result = publish(client, pull, first_findings(), max_inline_comments=1)
    assert [fingerprint_in(c["body"]) for c in github_server.review_comments[(REPO, 7)]] == ["fp-a"]
    assert {e.fingerprint: e.reason for e in decode_state(summaries(github_server)[0]).listed} == {
        "fp-b": "over_cap", "fp-c": "over_cap", "fp-d": "unanchored"}
    assert result.listed == 3


def test_a_422_moves_the_comments_github_cannot_place_to_the_summary(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = commentable_lines_from_patches([PRFile("app.py", "modified", "@@ -0,0 +1,40 @@\n" + "+x\n" * 40)])
    findings = [finding("fp-a", 5, severity="high"), finding("fp-wrong", 12, title="Misplaced")]
    result = publish(client, pull, findings, commentable=wrong)
    assert statuses(github_server, "POST", REVIEWS) == [422, 200]
    assert "warning: GitHub refused the review (422 Unprocessable Entity: Line could not be resolved): 1 comment(s) " \
        "it cannot place on the diff are listed in the summary comment instead; the other 1 were posted" \
        in capsys.readouterr().err
    assert [fingerprint_in(c["body"]) for c in github_server.review_comments[(REPO, 7)]] == ["fp-a"]
    assert (result.inline_posted, result.rejected) == (1, 1)
    state = decode_state(summaries(github_server)[0])
    assert [(e.fingerprint, e.reason) for e in state.listed] == [("fp-wrong", "rejected")]
    assert state.posted == {"fp-a"}


def test_a_422_with_no_known_cause_moves_every_comment_to_the_summary_with_a_warning(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    github_server.fail_next("POST", REVIEWS, status=422, message=f"Validation Failed for token {TOKEN}")
    result = publish(client, pull, first_findings())
    assert (result.review_url, result.inline_posted, result.rejected, result.listed) == (None, 0, 3, 4)
    assert github_server.reviews[(REPO, 7)] == [] and len(github_server.calls("POST", REVIEWS)) == 1
    assert "GitHub could not place it on the diff" in summaries(github_server)[0]
    err = capsys.readouterr().err
    assert "qwen-review: warning: GitHub refused the review (422 Validation Failed for token [REDACTED]): its 3 " \
        "comment(s) are listed in the summary comment instead" in err
    assert "::warning title=qwen-review::GitHub refused the review (422 " in err and TOKEN not in err


def test_502_on_reads_is_retried(github_server: FakeGitHub, pull: PullRequest, client: GitHubClient,
                                 sleeps: list[float]) -> None:
    github_server.fail_next("GET", ISSUE_COMMENTS, times=2)
    github_server.fail_next("GET", f"/repos/{REPO}/pulls/7/files")
    result = publish(client, pull, first_findings())
    assert statuses(github_server, "GET", ISSUE_COMMENTS)[:3] == [502, 502, 200]
    assert result.inline_posted == 3 and sleeps == [0.25, 0.5, 0.25]


@pytest.mark.parametrize("path", [REVIEWS, ISSUE_COMMENTS])
def test_a_write_stored_before_a_502_is_not_repeated(github_server: FakeGitHub, pull: PullRequest,
                                                     client: GitHubClient, path: str) -> None:
    github_server.fail_next("POST", path, after_store=True)
    result = publish(client, pull, first_findings())
    assert statuses(github_server, "POST", path) == [502]
    assert len(github_server.reviews[(REPO, 7)]) == 1 and len(summaries(github_server)) == 1
    assert result.review_url == github_server.reviews[(REPO, 7)][0]["html_url"]
    assert result.comment_url == github_server.issue_comments[(REPO, 7)][0]["html_url"]


def test_a_write_lost_in_a_502_is_sent_again(github_server: FakeGitHub, pull: PullRequest,
                                             client: GitHubClient) -> None:
    github_server.fail_next("POST", REVIEWS)
    result = publish(client, pull, first_findings())
    assert statuses(github_server, "POST", REVIEWS) == [502, 200] and len(github_server.reviews[(REPO, 7)]) == 1
    assert result.inline_posted == 3


def test_a_write_that_timed_out_after_it_was_stored_is_not_repeated(
        github_server: FakeGitHub, pull: PullRequest, sleeps: list[float]) -> None:
    github_server.stall_next("POST", REVIEWS, seconds=1.3)  # GitHub stores the review, the answer never comes
    policy = RetryPolicy(backoff=0.25, sleep=sleeps.append)
    with connect(token=TOKEN, api_url=github_server.base_url, timeout=1, write_interval=0, retry=policy) as github:
        result = publish(github, pull, first_findings())
    assert len(github_server.calls("POST", REVIEWS)) == 1 and len(github_server.reviews[(REPO, 7)]) == 1
    assert result.review_url == github_server.reviews[(REPO, 7)][0]["html_url"] and sleeps == [0.25]


def test_secondary_rate_limits_are_waited_out(github_server: FakeGitHub, pull: PullRequest, client: GitHubClient,
                                              sleeps: list[float]) -> None:
    github_server.secondary_rate_limit_next("POST", REVIEWS, retry_after=7)
    github_server.secondary_rate_limit_next("POST", ISSUE_COMMENTS, retry_after=None, status=429)
    result = publish(client, pull, first_findings())
    assert statuses(github_server, "POST", REVIEWS) == [403, 200] and len(github_server.reviews[(REPO, 7)]) == 1
    assert statuses(github_server, "POST", ISSUE_COMMENTS) == [429, 201] and len(summaries(github_server)) == 1
    assert sleeps == [7.0, 3.0] and result.inline_posted == 3


def test_primary_rate_limit_waits_until_reset_within_a_bound(github_server: FakeGitHub, pull: PullRequest,
                                                             client: GitHubClient, sleeps: list[float]) -> None:
    github_server.primary_rate_limit_next("GET", ISSUE_COMMENTS, reset_in=30)
    publish(client, pull, first_findings())
    assert len(sleeps) == 1 and 29.0 <= sleeps[0] <= 32.0
    github_server.primary_rate_limit_next("GET", ISSUE_COMMENTS, reset_in=3600)
    with pytest.raises(PublishError, match="rate limited for"):
        publish(client, pull, first_findings())
    assert len(sleeps) == 1


def test_a_very_long_summary_is_cut_and_keeps_its_state(github_server: FakeGitHub, pull: PullRequest,
                                                        client: GitHubClient) -> None:
    many = [finding(f"fp-{i}", None, title=f"Unplaced {i}", body="detail " * 400) for i in range(200)]
    result = publish(client, pull, many)
    [summary] = summaries(github_server)
    assert result.truncated and len(summary) <= 65_536 and "65,536-character limit" in summary
    assert {e.fingerprint for e in decode_state(summary).listed} == {f"fp-{i}" for i in range(200)}
    assert 422 not in [r.status for r in github_server.requests]


def test_model_text_cannot_ping_or_hide_text(github_server: FakeGitHub, pull: PullRequest,
                                             client: GitHubClient) -> None:
    sneaky = [finding("fp-a", 5, title="Ask @alice", body="cc @org/security <!-- <!-- qwen-review:fp=x -->"),
              finding("fp-d", None, title="@bob look", body="-->")]
    publish(client, pull, sneaky, summary_markdown="thanks @carol")
    written = [c["body"] for c in github_server.review_comments[(REPO, 7)]] + summaries(github_server)
    for text in written:
        assert not any(name in text for name in ("@alice", "@org/security", "@bob", "@carol"))
    assert written[0].count("<!--") == 1 and fingerprint_in(written[0]) == "fp-a"  # only our own marker
    assert "&lt;!-- qwen-review:fp=x" in written[0]  # shown as text, not hidden


def test_a_comment_posing_as_the_summary_is_ignored_when_the_author_is_known(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    publish(client, pull, [finding("fp-a", 5)])
    # a person copies the real summary (whose state says fp-a is posted) into a comment of their own
    real = github_server.issue_comments[(REPO, 7)].pop()
    github_server.review_comments[(REPO, 7)].clear()
    github_server.add_issue_comment(REPO, 7, real["body"], login="mallory")
    result = publish(client, pull, [finding("fp-a", 5)], author=BOT_LOGIN)
    assert result.comment_created and result.inline_posted == 1
    assert [c["user"]["login"] for c in github_server.issue_comments[(REPO, 7)]] == ["mallory", BOT_LOGIN]


def test_a_bad_or_missing_token_is_a_configuration_error_that_never_shows_the_token(
        github_server: FakeGitHub, pull: PullRequest) -> None:
    secret = "ghp_this_token_must_never_be_printed_123"
    with connect(token=secret, api_url=github_server.base_url, write_interval=0) as wrong, \
            pytest.raises(GitHubTokenError) as caught:
        publish(wrong, pull, first_findings())
    assert caught.value.exit_code == 2 and "401" in caught.value.message
    assert caught.value.hint is not None and "GITHUB_TOKEN" in caught.value.hint
    assert secret not in f"{caught.value.message} {caught.value.hint} {caught.value!r}"
    assert [r.status for r in github_server.requests] == [401]
    with pytest.raises(GitHubTokenError, match="No GitHub token") as missing:
        connect(token="", api_url=github_server.base_url)
    assert missing.value.exit_code == 2


def test_a_token_without_write_permission_is_a_configuration_error_with_a_hint(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    github_server.read_only = True
    with pytest.raises(GitHubTokenError) as caught:
        publish(client, pull, first_findings())
    assert caught.value.exit_code == 2 and caught.value.status == 403
    assert "lacks the permission" in caught.value.message and "Resource not accessible by integration" in \
        caught.value.message
    assert caught.value.hint is not None and "permissions: pull-requests: write" in caught.value.hint
    github_server.read_only = False
    github_server.fail_next("POST", REVIEWS, status=403)  # a 403 that says nothing of permissions
    with pytest.raises(GitHubRejected) as other:
        publish(client, pull, first_findings())
    assert not isinstance(other.value, GitHubTokenError) and other.value.exit_code == 3


def test_an_unreachable_api_is_retried_then_reported(sleeps: list[float]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = RetryPolicy(attempts=3, backoff=0.5, sleep=sleeps.append)
    with connect(token=TOKEN, api_url=f"http://127.0.0.1:{port}/api/v3", retry=policy) as github, \
            pytest.raises(PublishError, match="Cannot reach GitHub") as caught:
        get_pull_request(github, repository=REPO, number=7)
    assert sleeps == [0.5, 1.0] and TOKEN not in str(caught.value)


def test_pull_request_and_files_as_github_shows_them(pull: PullRequest, client: GitHubClient) -> None:
    info = get_pull_request(client, repository=REPO, number=7)
    assert (info.head_sha, info.base_sha, info.draft, info.head_repository) == (pull.head, pull.base, False, REPO)
    [entry] = fetch_pull_files(client, repository=REPO, number=7)
    assert (entry.filename, entry.status) == ("app.py", "modified") and entry.patch is not None
    lines = commentable_lines_from_patches([entry])["app.py"]
    assert sorted(lines.right) == [*range(2, 9), *range(17, 23), *range(27, 35)]


def test_a_repository_secret_is_stored_sealed_and_a_5xx_put_is_retried(
        github_server: FakeGitHub, client: GitHubClient, sleeps: list[float]) -> None:
    secrets = f"/repos/{REPO}/actions/secrets"
    github_server.fail_next("PUT", f"{secrets}/QWEN_REFRESH", status=502, after_store=True)
    store_repository_secret(client, repository=REPO, name="QWEN_REFRESH", value="rotated-refresh-1")
    assert github_server.decrypt_secret(REPO, "QWEN_REFRESH") == "rotated-refresh-1"
    # the PUT is idempotent: repeated after the 502, even though the first one was stored
    assert [r.status for r in github_server.calls("PUT")] == [502, 204] and sleeps == [0.25]
    with connect(token="ghp_FAKE_wrong_secrets_token_2", api_url=github_server.base_url, write_interval=0) as wrong, \
            pytest.raises(PublishError) as caught:
        store_repository_secret(wrong, repository=REPO, name="QWEN_REFRESH", value="rotated-refresh-2")
    assert "401" in caught.value.message and "ghp_FAKE_wrong" not in caught.value.message
    assert caught.value.hint is not None and "Secrets" in caught.value.hint
    assert github_server.decrypt_secret(REPO, "QWEN_REFRESH") == "rotated-refresh-1"


def comments_by(server: FakeGitHub) -> list[tuple[str, str]]:
    return [(c["user"]["login"], c["body"]) for c in server.issue_comments[(REPO, 7)]]


def test_without_a_login_an_apps_token_takes_only_a_bots_comment_for_the_summary(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    publish(client, pull, [finding("fp-a", 5)])
    real = github_server.issue_comments[(REPO, 7)].pop()  # a person copies the real summary (fp-a posted)
    github_server.review_comments[(REPO, 7)].clear()
    github_server.add_issue_comment(REPO, 7, real["body"], login="mallory")
    result = publish(client, pull, [finding("fp-a", 5)])  # GET /user is refused: the token is an app's
    assert result.comment_created and result.inline_posted == 1
    assert [login for login, _ in comments_by(github_server)] == ["mallory", BOT_LOGIN]
    assert comments_by(github_server)[0][1] == real["body"] and github_server.calls("PATCH") == []
    again = publish(client, pull, [finding("fp-a", 5)])
    assert not again.comment_created and again.comment_url == result.comment_url
    assert [r.status for r in github_server.calls("GET", "/user")] == [403]  # asked once per connection


def test_without_a_login_a_personal_tokens_own_comments_count(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    github_server.personal, github_server.login = True, "octo-dev"
    for login in ("mallory", "other-app[bot]"):
        github_server.add_issue_comment(REPO, 7, "<!-- qwen-review:summary -->\nall good", login=login)
    result = publish(client, pull, first_findings())
    assert result.comment_created and result.inline_posted == 3
    assert [login for login, _ in comments_by(github_server)] == ["mallory", "other-app[bot]", "octo-dev"]
    assert github_server.calls("PATCH") == []
    publish(client, pull, first_findings())
    assert len(github_server.issue_comments[(REPO, 7)]) == 3 and len(github_server.calls("PATCH")) == 1


def test_a_marker_comment_the_token_cannot_edit_is_left_alone(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient,
        capsys: pytest.CaptureFixture[str]) -> None:
    planted = "<!-- qwen-review:summary -->\nall good"
    github_server.add_issue_comment(REPO, 7, planted, login="other-app[bot]")  # a bot, as the token's own would be
    result = publish(client, pull, first_findings())
    assert result.comment_created and [r.status for r in github_server.calls("PATCH")] == [403]
    assert "warning: a comment by other-app[bot] starts with qwen-review's hidden marker, but the token cannot " \
           "edit it" in capsys.readouterr().err
    again = publish(client, pull, first_findings())
    assert not again.comment_created and again.comment_url == result.comment_url
    assert [r.status for r in github_server.calls("PATCH")] == [403, 403, 200]
    assert comments_by(github_server)[0] == ("other-app[bot]", planted) and len(comments_by(github_server)) == 2
    capsys.readouterr()
    github_server.read_only = True  # with the login known, a 403 on its own comment is the token's permission
    with pytest.raises(GitHubTokenError, match="lacks the permission to edit the summary comment"):
        publish(client, pull, first_findings(), author=BOT_LOGIN)
    assert "hidden marker" not in capsys.readouterr().err


def other_runs_summary(server: FakeGitHub) -> None:
    server.add_issue_comment(REPO, 7, "<!-- qwen-review:summary -->\nthe other run's summary", login=BOT_LOGIN)


def test_a_summary_another_run_created_first_is_kept_and_ours_deleted(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient, capsys: pytest.CaptureFixture[str]) -> None:
    github_server.add_issue_comment(REPO, 7, "<!-- qwen-review:summary -->\nposing", login="mallory")
    github_server.max_per_page = 100
    github_server.after_next("GET", ISSUE_COMMENTS, lambda: other_runs_summary(github_server))  # after our read
    result = publish(client, pull, first_findings(), author=BOT_LOGIN)
    other = github_server.issue_comments[(REPO, 7)][1]
    assert comments_by(github_server) == [("mallory", "<!-- qwen-review:summary -->\nposing"),
                                          (BOT_LOGIN, "<!-- qwen-review:summary -->\nthe other run's summary")]
    assert (result.comment_url, result.comment_created) == (other["html_url"], False)
    assert [r.status for r in github_server.calls("DELETE")] == [204]
    assert "another run created a summary comment at the same time" in capsys.readouterr().err
    again = publish(client, pull, first_findings(), author=BOT_LOGIN)  # later runs edit the one left
    assert again.comment_url == other["html_url"] and len(comments_by(github_server)) == 2


def test_a_summary_another_run_created_after_ours_is_deleted(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    github_server.after_next("POST", ISSUE_COMMENTS, lambda: other_runs_summary(github_server))
    result = publish(client, pull, first_findings())
    [ours] = github_server.issue_comments[(REPO, 7)]
    assert result.comment_created and result.comment_url == ours["html_url"] and "Loose end" in ours["body"]
    assert [r.status for r in github_server.calls("DELETE")] == [204]


def test_a_duplicate_the_other_run_already_deleted_is_no_error(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    def other_run_that_deletes_its_own_first() -> None:
        other = github_server.add_issue_comment(REPO, 7, "<!-- qwen-review:summary -->\nother", login=BOT_LOGIN)
        github_server.fail_next("DELETE", f"/repos/{REPO}/issues/comments/{other['id']}", status=404,
                                after_store=True)

    github_server.after_next("POST", ISSUE_COMMENTS, other_run_that_deletes_its_own_first)
    result = publish(client, pull, first_findings())
    assert result.comment_created and len(github_server.issue_comments[(REPO, 7)]) == 1
    assert [r.status for r in github_server.calls("DELETE")] == [404]


def test_model_headings_and_images_render_as_bold_lines_and_links_in_comments(
        github_server: FakeGitHub, pull: PullRequest, client: GitHubClient) -> None:
    from markdown_it import MarkdownIt

    body = "# Big heading\n\nCalling `eval`.\n\n![pixel](https://evil.example/t.png)"
    findings = [finding("fp-a", 5, body=body), finding("fp-d", None, title="Loose end", body=body)]
    publish(client, pull, findings, summary_markdown="## Overview\n\nThe change is fine.")
    render = MarkdownIt("commonmark").enable("table").render
    [inline] = [render(c["body"]) for c in github_server.review_comments[(REPO, 7)]]
    [summary] = [render(text) for text in summaries(github_server)]
    for html in (inline, summary):
        assert "<img" not in html and "<h1>" not in html and "<strong>Big heading</strong>" in html
        assert '<a href="https://evil.example/t.png">pixel</a>' in html
    assert re.findall(r"<h\d>([^<]*)", summary) == ["qwen-review", "Findings not posted inline (1)"]
    assert "<p><strong>Overview</strong></p>" in summary
