"""The native pre-push hook under real `git push` to a local bare remote: it reviews what is pushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer, Reply
from tests.gitrepo import GitRepo
from tests.hookutil import answer, finding, git_run, install, model_env, prompts


@pytest.fixture
def remote_repo(repo: GitRepo, tmp_path: Path) -> GitRepo:
    """`repo` with a bare `origin` and the pre-push hook installed; one commit, not pushed yet."""
    bare = tmp_path / "remote.git"
    repo.git("init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.write("old.py", "OLD_MARK = 1\n")
    repo.commit("base")
    result = install(repo, "--pre-push")
    assert result.code == 0, result.err
    return repo


def _push(repo: GitRepo, server: ModelServer, *args: str) -> tuple[int, str]:
    result = git_run(repo, "push", "-q", "origin", *args, env=model_env(server.base_url))
    return result.code, result.text


def _remote_rev(repo: GitRepo, ref: str) -> str:
    listed = repo.git("ls-remote", "origin", ref).split()
    return listed[0] if listed else ""


def test_first_push_reviews_the_whole_history(remote_repo: GitRepo, model_server: ModelServer) -> None:
    code, text = _push(remote_repo, model_server, "main")
    assert code == 0, text
    assert "OLD_MARK = 1" in prompts(model_server)
    assert _remote_rev(remote_repo, "refs/heads/main") == remote_repo.rev("main")


def test_push_reviews_only_the_new_commits(remote_repo: GitRepo, model_server: ModelServer) -> None:
    remote_repo.git("push", "-q", "--no-verify", "origin", "main")
    remote_repo.write("new.py", "NEW_MARK = 2\n")
    remote_repo.commit("new")
    code, text = _push(remote_repo, model_server, "main")
    assert code == 0, text
    sent = prompts(model_server)
    assert "NEW_MARK = 2" in sent
    assert "OLD_MARK" not in sent
    assert len(model_server.requests) == 1


def test_new_branch_is_reviewed_against_the_default_branch(remote_repo: GitRepo, model_server: ModelServer) -> None:
    remote_repo.git("push", "-q", "--no-verify", "origin", "main")
    remote_repo.git("checkout", "-q", "-b", "other")
    remote_repo.write("other.py", "OTHER_MARK = 3\n")
    remote_repo.commit("other")
    remote_repo.git("push", "-q", "--no-verify", "origin", "other")
    remote_repo.git("checkout", "-q", "-b", "feature")
    remote_repo.write("feature.py", "FEATURE_MARK = 4\n")
    remote_repo.commit("feature")
    code, text = _push(remote_repo, model_server, "feature")
    assert code == 0, text
    sent = prompts(model_server)
    # What a pull request into main would show: the branch's own commit and the one it was built on.
    assert "FEATURE_MARK = 4" in sent
    assert "OTHER_MARK = 3" in sent
    assert "OLD_MARK" not in sent


def test_deleting_a_remote_branch_reviews_nothing(remote_repo: GitRepo, model_server: ModelServer) -> None:
    remote_repo.git("push", "-q", "--no-verify", "origin", "main", "main:gone")
    code, text = _push(remote_repo, model_server, ":gone")
    assert code == 0, text
    assert model_server.requests == []
    assert _remote_rev(remote_repo, "refs/heads/gone") == ""


def test_high_finding_blocks_the_push(remote_repo: GitRepo, model_server: ModelServer) -> None:
    remote_repo.git("push", "-q", "--no-verify", "origin", "main")
    pushed = remote_repo.rev("main")
    remote_repo.write("new.py", "password_check = lambda p: True\n")
    remote_repo.commit("new")
    model_server.script(Reply(text=answer(finding("new.py", 1, "critical", "Accepts any password"))))
    code, text = _push(remote_repo, model_server, "main")
    assert code != 0
    assert "Accepts any password" in text
    assert "push blocked: 1 finding at or above high" in text and "`git push --no-verify`" in text
    assert _remote_rev(remote_repo, "refs/heads/main") == pushed


def test_two_refs_are_each_reviewed_and_the_worst_wins(remote_repo: GitRepo, model_server: ModelServer) -> None:
    remote_repo.git("push", "-q", "--no-verify", "origin", "main")
    for name in ("one", "two"):
        remote_repo.git("checkout", "-q", "-b", name, "main")
        remote_repo.write(f"{name}.py", f"{name.upper()}_MARK = 5\n")
        remote_repo.commit(name)

    def reply(request: object) -> Reply:
        text = getattr(request, "prompt_text", "")
        bad = "TWO_MARK" in text
        return Reply(text=answer(finding("two.py", 1, "high", "Broken two")) if bad else answer())

    model_server.fallback = reply
    code, text = _push(remote_repo, model_server, "one", "two")
    assert code != 0
    sent = [request.prompt_text for request in model_server.requests]
    assert len(sent) == 2
    assert any("ONE_MARK" in p and "TWO_MARK" not in p for p in sent)
    assert any("TWO_MARK" in p and "ONE_MARK" not in p for p in sent)
    assert "Broken two" in text
