"""Which range a push reviews (git's stdin lines, pre-commit's variables), and `hook` run in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from qwen_review.errors import GitError
from qwen_review.hook_push import (
    PushedRef,
    PushRange,
    framework_ranges,
    native_ranges,
    new_branch_base,
    parse_pushed_refs,
)
from qwen_review.target import open_repository
from tests.clirun import run_cli
from tests.fakes.model_server import ModelServer, Reply
from tests.gitrepo import GitRepo
from tests.hookutil import answer, finding, model_env, prompts

ZERO = "0" * 40


@pytest.fixture
def history(repo: GitRepo) -> GitRepo:
    """main: base -> second, with refs/remotes/origin/main at base; feature: second -> feat."""
    repo.write("a.py", "BASE_MARK = 1\n")
    repo.commit("base")
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.write("b.py", "SECOND_MARK = 2\n")
    repo.commit("second")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("c.py", "FEATURE_MARK = 3\n")
    repo.commit("feat")
    repo.git("checkout", "-q", "main")
    return repo


def test_parse_pushed_refs() -> None:
    text = f"refs/heads/main {'a' * 40} refs/heads/main {'b' * 40}\n\n(delete) {ZERO} refs/heads/old {'c' * 40}\n"
    assert parse_pushed_refs(text) == [
        PushedRef("refs/heads/main", "a" * 40, "refs/heads/main", "b" * 40),
        PushedRef("(delete)", ZERO, "refs/heads/old", "c" * 40),
    ]
    with pytest.raises(GitError, match="unexpected pre-push input"):
        parse_pushed_refs("garbage\n")


def test_existing_branch_is_reviewed_from_the_merge_base(history: GitRepo) -> None:
    repo = open_repository(history.path)
    base, head, feat = history.rev("main~1"), history.rev("main"), history.rev("feature")
    ranges = native_ranges(repo, [PushedRef("refs/heads/main", head, "refs/heads/main", base)], remote="origin")
    assert ranges == [PushRange("refs/heads/main", base, head)]
    # A force push replacing feature with main: what main has that the old remote commit has not.
    forced = native_ranges(repo, [PushedRef("refs/heads/main", head, "refs/heads/x", feat)], remote="origin")
    assert forced == [PushRange("refs/heads/x", head, head)]


def test_deleted_refs_and_duplicates_are_dropped(history: GitRepo) -> None:
    repo = open_repository(history.path)
    base, head = history.rev("main~1"), history.rev("main")
    pushed = [PushedRef("(delete)", ZERO, "refs/heads/old", base),
              PushedRef("refs/heads/main", head, "refs/heads/main", base),
              PushedRef("refs/heads/main", head, "refs/heads/copy", base)]
    assert native_ranges(repo, pushed, remote="origin") == [PushRange("refs/heads/main", base, head)]


def test_new_branch_uses_the_default_branch_then_the_first_unpushed_parent(history: GitRepo) -> None:
    repo = open_repository(history.path)
    base, feat = history.rev("main~1"), history.rev("feature")
    assert new_branch_base(repo, feat, remote="origin") == (True, base)  # merge base with origin/main
    history.git("update-ref", "-d", "refs/remotes/origin/main")
    history.git("update-ref", "refs/remotes/origin/dev", "main")  # no default branch; dev holds second
    assert new_branch_base(repo, feat, remote="origin") == (True, history.rev("main"))
    history.git("update-ref", "refs/remotes/origin/dev", "feature")
    assert new_branch_base(repo, feat, remote="origin") == (False, None)  # everything is on the remote
    history.git("update-ref", "-d", "refs/remotes/origin/dev")
    assert new_branch_base(repo, feat, remote="origin") == (True, None)  # nothing on the remote: from the root


def test_remote_head_and_master_are_default_branches(history: GitRepo) -> None:
    history.git("update-ref", "-d", "refs/remotes/origin/main")
    history.git("update-ref", "refs/remotes/upstream/trunk", "main~1")
    history.git("symbolic-ref", "refs/remotes/upstream/HEAD", "refs/remotes/upstream/trunk")
    repo = open_repository(history.path)
    assert new_branch_base(repo, history.rev("feature"), remote="upstream") == (True, history.rev("main~1"))
    history.git("update-ref", "refs/remotes/origin/master", "main")
    assert new_branch_base(repo, history.rev("feature"), remote="elsewhere") == (True, history.rev("main"))


def test_remote_commit_not_fetched_is_a_new_branch(history: GitRepo) -> None:
    repo = open_repository(history.path)
    feat = history.rev("feature")
    pushed = [PushedRef("refs/heads/feature", feat, "refs/heads/feature", "d" * 40)]
    assert native_ranges(repo, pushed, remote="origin") == [PushRange("refs/heads/feature", history.rev("main~1"), feat)]


def test_framework_variables(history: GitRepo) -> None:
    repo = open_repository(history.path)
    head, feat = history.rev("main"), history.rev("feature")
    assert framework_ranges(repo, {}) is None
    given = framework_ranges(repo, {"PRE_COMMIT_FROM_REF": head, "PRE_COMMIT_TO_REF": feat})
    assert given == [PushRange(feat, head, feat)]
    # A new branch: pre-commit passes the parent of the first unpushed commit; the default branch wins.
    new = framework_ranges(repo, {"PRE_COMMIT_FROM_REF": head, "PRE_COMMIT_TO_REF": feat,
                                  "PRE_COMMIT_REMOTE_NAME": "origin", "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/feature"})
    assert new == [PushRange("refs/heads/feature", history.rev("main~1"), feat)]
    # The whole history is new: pre-commit sets only the names.
    history.git("update-ref", "-d", "refs/remotes/origin/main")
    whole = framework_ranges(repo, {"PRE_COMMIT_REMOTE_NAME": "origin", "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/feature",
                                    "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/feature"})
    assert whole == [PushRange("refs/heads/feature", None, feat)]


def test_framework_push_range_is_reviewed_instead_of_the_index(history: GitRepo, model_server: ModelServer,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    history.write("staged.py", "STAGED_MARK = 9\n")
    history.stage()
    env = {**model_env(model_server.base_url), "PRE_COMMIT_FROM_REF": history.rev("main"),
           "PRE_COMMIT_TO_REF": history.rev("feature")}
    result = run_cli(history.path, "hook", "pre-commit", "--no-cache", capsys=capsys, env=env)
    assert result.code == 0, result.err
    sent = prompts(model_server)
    assert "FEATURE_MARK = 3" in sent
    assert "STAGED_MARK" not in sent
    assert "SECOND_MARK" not in sent


def test_whole_history_push_from_the_framework(history: GitRepo, model_server: ModelServer,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    history.git("update-ref", "-d", "refs/remotes/origin/main")
    env = {**model_env(model_server.base_url), "PRE_COMMIT_REMOTE_NAME": "origin",
           "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main", "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main"}
    result = run_cli(history.path, "hook", "pre-commit", "--no-cache", capsys=capsys, env=env)
    assert result.code == 0, result.err
    assert "BASE_MARK = 1" in prompts(model_server)
    assert "whole history" in result.err


def test_native_stdin_in_process_with_json_reports_per_ref(history: GitRepo, model_server: ModelServer,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    main, feat, base = history.rev("main"), history.rev("feature"), history.rev("main~1")
    monkeypatch.setattr("sys.stdin", io.StringIO(
        f"refs/heads/main {main} refs/heads/main {base}\nrefs/heads/feature {feat} refs/heads/feature {ZERO}\n"))
    model_server.script(Reply(text=answer(finding("b.py", 1, "medium", "Second is odd"))), Reply(text=answer()))
    report = tmp_path / "report.json"
    result = run_cli(history.path, "hook", "pre-push", "origin", "/remote", "--no-cache", "-f", "json",
                     "-o", str(report), "--fail-on", "medium", capsys=capsys, env=model_env(model_server.base_url))
    assert result.code == 1  # --fail-on medium, and the first ref has a medium finding
    first = json.loads(report.read_text())
    second = json.loads((tmp_path / "report.2.json").read_text())
    assert [f["title"] for f in first["findings"]] == ["Second is odd"]
    assert first["target"]["base"] == base
    assert second["target"]["head"] == feat
    assert second["findings"] == []


def test_nothing_pushed(history: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"(delete) {ZERO} refs/heads/old {history.rev('main')}\n"))
    result = run_cli(history.path, "hook", "pre-push", "origin", "/remote", capsys=capsys)
    assert result.code == 0
    assert "no new commits pushed" in result.err


def test_in_progress_operations_skip_the_staged_review(history: GitRepo, model_server: ModelServer,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    history.write("staged.py", "STAGED_MARK = 9\n")
    history.stage()
    git_dir = history.path / ".git"
    for marker, operation in (("CHERRY_PICK_HEAD", "a cherry-pick"), ("REVERT_HEAD", "a revert"),
                              ("rebase-merge", "a rebase"), ("rebase-apply", "a rebase")):
        path = git_dir / marker
        if marker.startswith("rebase"):
            path.mkdir()
        else:
            path.write_text(history.rev("main") + "\n")
        result = run_cli(history.path, "hook", "pre-commit", capsys=capsys, env=model_env(model_server.base_url))
        assert result.code == 0
        assert f"{operation} is in progress: not reviewed" in result.err
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    assert model_server.requests == []


def test_hook_defaults_and_flags(history: GitRepo, model_server: ModelServer,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    history.write("staged.py", "STAGED_MARK = 9\n")
    history.stage()
    model_server.fallback = Reply(text=answer(finding("staged.py", 1, "medium", "Medium thing")))
    env = model_env(model_server.base_url)
    passed = run_cli(history.path, "hook", "pre-commit", capsys=capsys, env=env)
    assert passed.code == 0  # default --fail-on high
    assert "Medium thing" in passed.out
    blocked = run_cli(history.path, "hook", "pre-commit", "--fail-on", "medium", "--no-cache", capsys=capsys, env=env)
    assert blocked.code == 1
