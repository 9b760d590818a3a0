"""The native pre-commit hook under real `git commit`: it reviews exactly what is being committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer, Reply
from tests.gitrepo import GitRepo
from tests.hookutil import answer, closed_port_url, finding, git_run, install, model_env, prompts

BASE = "def price(item):\n    return item.price\n"


@pytest.fixture
def hooked(repo: GitRepo) -> GitRepo:
    repo.write("shop.py", BASE)
    repo.commit("base")
    result = install(repo)
    assert result.code == 0, result.err
    return repo


def test_plain_commit_reviews_the_index(hooked: GitRepo, model_server: ModelServer) -> None:
    model_server.script(Reply(text=answer(summary="Reviewed the price helper.")))
    hooked.write("shop.py", BASE + "STAGED_MARK = 1\n")
    hooked.stage("shop.py")
    result = git_run(hooked, "commit", "-q", "-m", "edit", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    assert len(model_server.requests) == 1
    assert "STAGED_MARK = 1" in prompts(model_server)
    assert "Reviewed the price helper." in result.text  # the report is shown even though the hook passed


def test_partially_staged_file_sends_only_the_staged_version(hooked: GitRepo, model_server: ModelServer) -> None:
    hooked.write("shop.py", BASE + "STAGED_MARK = 1\n")
    hooked.stage("shop.py")
    hooked.write("shop.py", BASE + "STAGED_MARK = 1\nUNSTAGED_MARK = 2\n")
    result = git_run(hooked, "commit", "-q", "-m", "edit", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    sent = prompts(model_server)
    assert "STAGED_MARK = 1" in sent
    assert "UNSTAGED_MARK" not in sent


def test_commit_all_reviews_the_temporary_index(hooked: GitRepo, model_server: ModelServer) -> None:
    hooked.write("shop.py", BASE + "WORKTREE_MARK = 3\n")  # not staged: `commit -a` stages it in a temporary index
    result = git_run(hooked, "commit", "-q", "-a", "-m", "edit", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    assert "WORKTREE_MARK = 3" in prompts(model_server)


def test_commit_with_a_path_reviews_only_that_path(hooked: GitRepo, model_server: ModelServer) -> None:
    hooked.write("other.py", "OTHER_STAGED = 4\n")
    hooked.stage("other.py")
    hooked.write("shop.py", BASE + "PATH_MARK = 5\n")
    result = git_run(hooked, "commit", "-q", "-m", "only shop", "shop.py", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    sent = prompts(model_server)
    assert "PATH_MARK = 5" in sent
    assert "OTHER_STAGED" not in sent  # staged, but not part of this commit
    assert "other.py" in hooked.git("diff", "--cached", "--name-only")


def test_commit_from_a_subdirectory(hooked: GitRepo, model_server: ModelServer) -> None:
    hooked.write("pkg/inner/mod.py", "SUBDIR_MARK = 6\n")
    hooked.stage()
    result = git_run(hooked, "commit", "-q", "-m", "sub", env=model_env(model_server.base_url),
                     cwd=hooked.path / "pkg" / "inner")
    assert result.code == 0, result.text
    assert "SUBDIR_MARK = 6" in prompts(model_server)
    assert "pkg/inner/mod.py" in prompts(model_server)


def test_first_commit_on_an_unborn_branch(repo: GitRepo, model_server: ModelServer) -> None:
    assert install(repo).code == 0
    repo.write("first.py", "FIRST_MARK = 7\n")
    repo.stage()
    result = git_run(repo, "commit", "-q", "-m", "root", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    assert "FIRST_MARK = 7" in prompts(model_server)
    assert repo.rev("HEAD")


def test_high_finding_blocks_the_commit(hooked: GitRepo, model_server: ModelServer) -> None:
    before = hooked.rev("HEAD")
    model_server.script(Reply(text=answer(finding("shop.py", 3, "high", "Crashes on empty cart"))))
    hooked.write("shop.py", BASE + "total = 1 / 0\n")
    hooked.stage()
    result = git_run(hooked, "commit", "-q", "-m", "bad", env=model_env(model_server.base_url))
    assert result.code != 0
    assert "Crashes on empty cart" in result.text
    assert ("qwen-review: commit blocked: 1 finding at or above high; fix it, or skip the review once "
            "with `git commit --no-verify`") in result.text
    assert hooked.rev("HEAD") == before


def test_low_finding_passes_and_is_shown(hooked: GitRepo, model_server: ModelServer) -> None:
    before = hooked.rev("HEAD")
    model_server.script(Reply(text=answer(finding("shop.py", 3, "low", "Name is vague"))))
    hooked.write("shop.py", BASE + "x = 1\n")
    hooked.stage()
    telemetry = hooked.path.parent / "telemetry.jsonl"
    env = {**model_env(model_server.base_url), "QWEN_REVIEW_TELEMETRY": "1",
           "QWEN_REVIEW_TELEMETRY_FILE": str(telemetry)}
    result = git_run(hooked, "commit", "-q", "-m", "ok", env=env)
    assert result.code == 0, result.text
    assert "Name is vague" in result.text
    assert hooked.rev("HEAD") != before
    # A hook run is a run: with telemetry turned on it records its one event, as `review` does.
    [event] = [json.loads(line) for line in telemetry.read_text().splitlines()]
    assert (event["event"], event["findings"], event["provider_kind"]) == ("run", 1, "openai")


def test_fail_on_from_the_config_file_wins_over_the_hook_default(hooked: GitRepo, model_server: ModelServer) -> None:
    hooked.write(".qwen-review.toml", 'fail_on = "low"\n')
    model_server.script(Reply(text=answer(finding("shop.py", 3, "low", "Name is vague"))))
    hooked.write("shop.py", BASE + "x = 1\n")
    hooked.stage("shop.py")
    result = git_run(hooked, "commit", "-q", "-m", "ok", env=model_env(model_server.base_url))
    assert result.code != 0
    assert "Name is vague" in result.text


def test_fail_on_from_the_environment(hooked: GitRepo, model_server: ModelServer) -> None:
    model_server.script(Reply(text=answer(finding("shop.py", 3, "high", "Crashes on empty cart"))))
    hooked.write("shop.py", BASE + "total = 1 / 0\n")
    hooked.stage()
    env = {**model_env(model_server.base_url), "QWEN_REVIEW_FAIL_ON": "critical"}
    result = git_run(hooked, "commit", "-q", "-m", "let through", env=env)
    assert result.code == 0, result.text
    assert "Crashes on empty cart" in result.text


def test_unreachable_model_warns_and_lets_the_commit_through(hooked: GitRepo) -> None:
    before = hooked.rev("HEAD")
    hooked.write("shop.py", BASE + "x = 1\n")
    hooked.stage()
    result = git_run(hooked, "commit", "-q", "-m", "offline", env=model_env(closed_port_url()))
    assert result.code == 0, result.text
    assert "warning" in result.err
    assert "connection refused" in result.err
    assert hooked.rev("HEAD") != before


def test_the_key_in_the_qwen_home_env_file_is_used(hooked: GitRepo, model_server: ModelServer,
                                                  isolated_env: Path) -> None:
    """Qwen Code keeps its settings in ~/.qwen/.env; the hook reads it as `qwen-review` does."""
    env_file = isolated_env / ".qwen" / ".env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(f"OPENAI_API_KEY=from-env-file\nOPENAI_BASE_URL={model_server.base_url}\n")
    hooked.write("shop.py", BASE + "ENV_FILE_MARK = 1\n")
    hooked.stage()
    result = git_run(hooked, "commit", "-q", "-m", "env file")
    assert result.code == 0, result.text
    assert len(model_server.requests) == 1
    assert model_server.requests[0].bearer_is("from-env-file")
    assert "ENV_FILE_MARK" in prompts(model_server)


def test_no_provider_warns_and_lets_the_commit_through(hooked: GitRepo) -> None:
    """A teammate without a key is told why the change was not reviewed, and is not blocked."""
    before = hooked.rev("HEAD")
    hooked.write("shop.py", BASE + "y = 2\n")
    hooked.stage()
    result = git_run(hooked, "commit", "-q", "-m", "no key")
    assert result.code == 0, result.text
    assert "No model provider configured" in result.err
    assert "not reviewed" in result.err
    assert hooked.rev("HEAD") != before
    strict = git_run(hooked, "commit", "-q", "--allow-empty", "-m", "strict", env={"QWEN_REVIEW_ON_ERROR": "fail"})
    assert strict.code == 0  # nothing staged: no review, nothing to block
    hooked.write("shop.py", BASE + "y = 3\n")
    hooked.stage()
    blocked = git_run(hooked, "commit", "-q", "-m", "strict", env={"QWEN_REVIEW_ON_ERROR": "fail"})
    assert blocked.code != 0
    assert "No model provider configured" in blocked.err


def _merge_pending(repo: GitRepo) -> None:
    """main and feature both changed; `git merge --no-commit` leaves MERGE_HEAD for `git commit`."""
    repo.write("shop.py", BASE)
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("feature.py", "FEATURE_MARK = 8\n")
    repo.commit("feature")
    repo.git("checkout", "-q", "main")
    repo.write("main.py", "MAIN_MARK = 9\n")
    repo.commit("main side")
    assert install(repo).code == 0
    repo.git("merge", "--no-commit", "--no-ff", "feature")
    assert (repo.path / ".git" / "MERGE_HEAD").exists()


def test_merge_in_progress_is_skipped_with_a_notice(repo: GitRepo, model_server: ModelServer) -> None:
    _merge_pending(repo)
    result = git_run(repo, "commit", "-q", "--no-edit", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    assert "a merge is in progress: not reviewed" in result.err
    assert model_server.requests == []
    assert len(repo.git("log", "-1", "--format=%P").split()) == 2  # the merge commit was made


def test_merge_is_reviewed_when_configured(repo: GitRepo, model_server: ModelServer) -> None:
    _merge_pending(repo)
    repo.write(".qwen-review.toml", "review_during_merge = true\n")
    result = git_run(repo, "commit", "-q", "--no-edit", env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    assert "FEATURE_MARK = 8" in prompts(model_server)


def test_worktree_commit_reviews_the_worktree_index(hooked: GitRepo, model_server: ModelServer,
                                                    tmp_path: Path) -> None:
    worktree = tmp_path / "linked"
    hooked.git("worktree", "add", "-q", "-b", "wt", str(worktree))
    (worktree / "wt.py").write_text("WORKTREE_INDEX_MARK = 10\n")
    git_run(hooked, "add", "wt.py", cwd=worktree)
    hooked.write("main_only.py", "MAIN_INDEX_MARK = 11\n")
    hooked.stage("main_only.py")  # staged in the main work tree: must not leak into the worktree's review
    result = git_run(hooked, "commit", "-q", "-m", "wt", cwd=worktree, env=model_env(model_server.base_url))
    assert result.code == 0, result.text
    sent = prompts(model_server)
    assert "WORKTREE_INDEX_MARK = 10" in sent
    assert "MAIN_INDEX_MARK" not in sent
