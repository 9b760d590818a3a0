"""The fake GitHub API enforces the rules the publisher must respect, so tests against it mean something."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import github
import pytest

from tests.fakes.github_server import (
    BOT_LOGIN,
    PREFIX,
    TOKEN,
    FakeGitHub,
    PullFile,
    commentable_lines,
    files_from_git_diff,
)
from tests.fakes.github_server import github_server_fixture as github_server_fixture  # the `github_server` fixture
from tests.gitrepo import GitRepo

REPO = "octo/demo"
PATCH = "@@ -1,4 +1,5 @@\n one\n-two\n+TWO\n+extra\n three\n four\n@@ -20,3 +21,3 @@ def f():\n x\n-y\n+Y\n z"


def call(server: FakeGitHub, method: str, path: str, body: Any = None, *, token: str | None = TOKEN
         ) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(server.base_url + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"token {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            raw, status, headers = error.read(), error.code, dict(error.headers)
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(raw) if raw else None


@pytest.fixture
def server(github_server: FakeGitHub) -> FakeGitHub:
    github_server.set_pull(REPO, 7, head_sha="h" * 40, base_sha="b" * 40, files=[PullFile("src/a.py", PATCH)])
    return github_server


def review(*comments: dict[str, Any], commit: str = "h" * 40) -> dict[str, Any]:
    return {"commit_id": commit, "body": "review", "event": "COMMENT", "comments": list(comments)}


def test_commentable_lines_follow_github_numbering() -> None:
    sides = commentable_lines(PATCH)
    assert sides["RIGHT"] == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 21: 1, 22: 1, 23: 1}
    assert sides["LEFT"] == {1: 0, 2: 0, 3: 0, 4: 0, 20: 1, 21: 1, 22: 1}


def test_token_is_required(server: FakeGitHub) -> None:
    assert call(server, "GET", f"/repos/{REPO}", token=None)[0] == 401
    assert call(server, "GET", f"/repos/{REPO}", token="wrong")[0] == 401
    status, _, repo = call(server, "GET", f"/repos/{REPO}")
    assert (status, repo["full_name"]) == (200, REPO)
    assert [r.authorized for r in server.requests] == [False, False, True]


def test_review_with_one_comment_off_the_diff_is_rejected_whole(server: FakeGitHub) -> None:
    good = {"path": "src/a.py", "line": 3, "side": "RIGHT", "body": "ok"}
    for bad in ({"path": "src/a.py", "line": 10, "side": "RIGHT", "body": "between hunks"},
                {"path": "src/a.py", "line": 5, "side": "LEFT", "body": "left side has no line 5"},
                {"path": "other.py", "line": 1, "side": "RIGHT", "body": "not in the PR"},
                {"path": "src/a.py", "start_line": 4, "start_side": "RIGHT", "line": 21, "side": "RIGHT",
                 "body": "spans two hunks"},
                {"path": "src/a.py", "start_line": 3, "start_side": "RIGHT", "line": 3, "side": "RIGHT",
                 "body": "start must precede"}):
        status, _, answer = call(server, "POST", f"/repos/{REPO}/pulls/7/reviews", review(good, bad))
        assert (status, answer["errors"]) == (422, ["Line could not be resolved"]), bad
    assert server.reviews[(REPO, 7)] == [] and server.review_comments[(REPO, 7)] == []


def test_valid_review_is_stored_with_its_comments(server: FakeGitHub) -> None:
    multi = {"path": "src/a.py", "start_line": 2, "start_side": "RIGHT", "line": 4, "side": "RIGHT", "body": "m"}
    left = {"path": "src/a.py", "line": 2, "side": "LEFT", "body": "deleted line"}
    status, _, stored = call(server, "POST", f"/repos/{REPO}/pulls/7/reviews", review(multi, left))
    assert (status, stored["state"], stored["user"]["login"]) == (200, "COMMENTED", BOT_LOGIN)
    status, _, comments = call(server, "GET", f"/repos/{REPO}/pulls/7/comments")
    assert [(c["line"], c["side"], c.get("start_line")) for c in comments] == [(4, "RIGHT", 2), (2, "LEFT", None)]
    assert all(c["pull_request_review_id"] == stored["id"] for c in comments)


def test_review_rejects_unknown_commit_and_missing_body(server: FakeGitHub) -> None:
    comment = {"path": "src/a.py", "line": 3, "side": "RIGHT", "body": "ok"}
    assert call(server, "POST", f"/repos/{REPO}/pulls/7/reviews", review(comment, commit="c" * 40))[0] == 422
    assert call(server, "POST", f"/repos/{REPO}/pulls/7/reviews", {**review(comment), "body": ""})[0] == 422
    assert server.reviews[(REPO, 7)] == []


def test_bodies_over_65536_characters_are_rejected(server: FakeGitHub) -> None:
    path = f"/repos/{REPO}/issues/7/comments"
    status, _, answer = call(server, "POST", path, {"body": "x" * 65_537})
    assert status == 422 and "too long" in answer["errors"][0]["message"]
    status, _, created = call(server, "POST", path, {"body": "x" * 65_536})
    assert status == 201
    edit = f"/repos/{REPO}/issues/comments/{created['id']}"
    assert call(server, "PATCH", edit, {"body": "y" * 65_537})[0] == 422
    too_long_comment = {"path": "src/a.py", "line": 3, "side": "RIGHT", "body": "z" * 65_537}
    assert call(server, "POST", f"/repos/{REPO}/pulls/7/reviews", review(too_long_comment))[0] == 422


def test_only_own_comments_can_be_edited_or_deleted(server: FakeGitHub) -> None:
    theirs = server.add_issue_comment(REPO, 7, "a person wrote this")
    status, _, _ = call(server, "PATCH", f"/repos/{REPO}/issues/comments/{theirs['id']}", {"body": "changed"})
    assert status == 403 and server.issue_comments[(REPO, 7)][0]["body"] == "a person wrote this"
    assert call(server, "DELETE", f"/repos/{REPO}/issues/comments/{theirs['id']}")[0] == 403
    mine = server.add_issue_comment(REPO, 7, "the bot wrote this", login=BOT_LOGIN)
    assert [call(server, "DELETE", f"/repos/{REPO}/issues/comments/{mine['id']}")[0] for _ in range(2)] == [204, 404]
    assert [c["body"] for c in server.issue_comments[(REPO, 7)]] == ["a person wrote this"]


def test_lists_are_paginated_with_link_headers(server: FakeGitHub) -> None:
    server.max_per_page = 2
    for index in range(5):
        server.add_issue_comment(REPO, 7, f"comment {index}")
    status, headers, first = call(server, "GET", f"/repos/{REPO}/issues/7/comments?per_page=100")
    assert status == 200 and [c["body"] for c in first] == ["comment 0", "comment 1"]
    assert 'rel="next"' in headers["link"] and "page=3" in headers["link"]
    next_url = headers["link"].split(">")[0].lstrip("<").removeprefix(server.base_url)
    assert [c["body"] for c in call(server, "GET", next_url)[2]] == ["comment 2", "comment 3"]


def test_scripted_faults(server: FakeGitHub) -> None:
    path = f"/repos/{REPO}/issues/7/comments"
    server.fail_next("POST", path, status=502, after_store=True)
    assert call(server, "POST", path, {"body": "stored anyway"})[0] == 502
    assert [c["body"] for c in server.issue_comments[(REPO, 7)]] == ["stored anyway"]
    server.fail_next("POST", path, times=2)
    assert [call(server, "POST", path, {"body": "lost"})[0] for _ in range(3)] == [502, 502, 201]
    server.secondary_rate_limit_next("GET", path, retry_after=7)
    status, headers, answer = call(server, "GET", path)
    assert (status, headers["retry-after"]) == (403, "7") and "secondary rate limit" in answer["message"]
    server.primary_rate_limit_next("GET", path, reset_in=30)
    status, headers, _ = call(server, "GET", path)
    assert (status, headers["x-ratelimit-remaining"]) == (403, "0") and int(headers["x-ratelimit-reset"]) > 0
    assert call(server, "GET", path)[0] == 200


def test_pygithub_reads_the_fake_under_an_enterprise_prefix(server: FakeGitHub) -> None:
    client = github.Github(base_url=server.base_url, auth=github.Auth.Token(TOKEN), retry=None,
                           seconds_between_requests=None, seconds_between_writes=None)
    try:
        pull = client.get_repo(REPO).get_pull(7)
        assert (pull.head.sha, pull.base.sha, pull.draft) == ("h" * 40, "b" * 40, False)
        assert [(f.filename, f.patch) for f in pull.get_files()] == [("src/a.py", PATCH)]
        assert client.get_rate_limit().resources.core.remaining == 4999
    finally:
        client.close()
    assert all(r.path.startswith("/repos/") or r.path == "/rate_limit" for r in server.requests)
    assert server.base_url.endswith(PREFIX)


def test_secrets_are_stored_encrypted_for_the_repository_key(server: FakeGitHub) -> None:
    client = github.Github(base_url=server.base_url, auth=github.Auth.Token(TOKEN), retry=None,
                           seconds_between_requests=None, seconds_between_writes=None)
    try:
        client.get_repo(REPO).create_secret("QWEN_OAUTH_REFRESH_TOKEN", "rotated-refresh-token")
    finally:
        client.close()
    stored = server.secrets[REPO]["QWEN_OAUTH_REFRESH_TOKEN"]
    assert stored["key_id"] == "fake-key-1" and "rotated" not in stored["encrypted_value"]
    assert server.decrypt_secret(REPO, "QWEN_OAUTH_REFRESH_TOKEN") == "rotated-refresh-token"


def test_files_from_git_diff_match_what_github_lists(repo: GitRepo) -> None:
    repo.write("keep.py", "".join(f"line {i}\n" for i in range(1, 30)))
    repo.write("old_name.py", "".join(f"stable {i}\n" for i in range(1, 30)))
    repo.write("gone.txt", "bye\n")
    repo.write("image.bin", b"\x00\x01\x02")
    base = repo.commit("base")
    repo.write("keep.py", "".join(f"line {i}\n" if i != 15 else "changed\n" for i in range(1, 30)))
    repo.git("mv", "old_name.py", "new_name.py")
    repo.write("new_name.py", "".join(f"stable {i}\n" for i in range(1, 30)) + "appended\n")
    repo.git("rm", "-q", "gone.txt")
    repo.write("image.bin", b"\x00\x01\x03")
    repo.write("added.py", "print('hi')\n")
    head = repo.commit("head")
    files = {f.filename: f for f in files_from_git_diff(repo.git("diff", "-M", f"{base}...{head}"))}
    assert {name: f.status for name, f in files.items()} == {
        "added.py": "added", "gone.txt": "removed", "image.bin": "modified", "keep.py": "modified",
        "new_name.py": "renamed"}
    assert files["new_name.py"].previous_filename == "old_name.py"
    assert files["image.bin"].patch is None
    assert files["keep.py"].patch is not None and files["keep.py"].patch.startswith("@@ -12,7 +12,7 @@")
    assert commentable_lines(files["keep.py"].patch)["RIGHT"] == dict.fromkeys(range(12, 19), 0)
    assert commentable_lines(files["gone.txt"].patch) == {"RIGHT": {}, "LEFT": {1: 0}}


def test_files_from_git_diff_read_names_git_quotes_or_ends_with_a_tab(repo: GitRepo) -> None:
    names = ["with space.py", 'quo"te.py', "tést ü.py", "old.txt"]
    for name in names:
        repo.write(name, "one\ntwo\n")
    repo.write("blob one.bin", b"\x00\x01")
    base = repo.commit("base")
    for name in names[:3]:
        repo.write(name, "one\ntwo\nthree\n")
    repo.git("mv", "old.txt", "new näme.txt")
    repo.write("blob one.bin", b"\x00\x02")
    diff = repo.git("diff", "-M", f"{base}..{repo.commit('head')}")
    assert "b/with space.py\t" in diff and '"b/t\\303\\251st \\303\\274.py"' in diff  # what git prints
    files = {f.filename: f for f in files_from_git_diff(diff)}
    assert sorted(files) == sorted(["with space.py", 'quo"te.py', "tést ü.py", "new näme.txt", "blob one.bin"])
    assert (files["new näme.txt"].status, files["new näme.txt"].previous_filename) == ("renamed", "old.txt")
    assert files["blob one.bin"].patch is None
    for name in names[:3]:
        assert commentable_lines(files[name].patch)["RIGHT"] == {1: 0, 2: 0, 3: 0}


def test_get_user_answers_a_personal_token_only(server: FakeGitHub) -> None:
    status, _, answer = call(server, "GET", "/user")
    assert status == 403 and answer["message"] == "Resource not accessible by integration"
    server.personal, server.login = True, "octo-dev"
    assert call(server, "GET", "/user")[2]["login"] == "octo-dev"
    status, _, created = call(server, "POST", f"/repos/{REPO}/issues/7/comments", {"body": "mine"})
    assert (status, created["user"]["login"], created["user"]["type"]) == (201, "octo-dev", "User")
