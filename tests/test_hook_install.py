"""install-hook / uninstall-hook: where the script goes, what happens to a hook already there, the script itself."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from qwen_review.hook_install import MARKER, render_script
from tests.fakes.model_server import ModelServer
from tests.gitrepo import GitRepo
from tests.hookutil import QWEN_REVIEW, ROOT, VENV_BIN, git_run, install, model_env, prompts, qwen, uninstall

FOREIGN = '#!/bin/sh\necho foreign-hook-ran >> "$(git rev-parse --git-dir)/foreign.log"\nexit {code}\n'
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"  # git and sh, but no qwen-review


@pytest.fixture
def base(repo: GitRepo) -> GitRepo:
    repo.write("a.py", "a = 1\n")
    repo.commit("base")
    return repo


def _stage_change(repo: GitRepo, mark: str) -> None:
    repo.write("a.py", f"a = 1\n{mark} = 2\n")
    repo.stage("a.py")


def _write_hook(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def test_repository_scripts_are_the_rendered_templates() -> None:
    for name in ("pre-commit", "pre-push"):
        path = ROOT / "hooks" / name
        assert path.read_text() == render_script(name)
        assert os.access(path, os.X_OK)


def test_install_writes_an_executable_script_recording_this_install(base: GitRepo) -> None:
    result = install(base)
    assert result.code == 0, result.err
    hook = base.path / ".git" / "hooks" / "pre-commit"
    assert f"installed the pre-commit hook: {hook}" in result.err
    assert stat.S_IMODE(hook.stat().st_mode) == 0o755
    text = hook.read_text()
    assert MARKER in text
    assert f"INSTALL_SCRIPT={QWEN_REVIEW}\n" in text
    assert "HOOK=pre-commit\n" in text


def test_install_pre_push(base: GitRepo) -> None:
    result = install(base, "--pre-push")
    assert result.code == 0, result.err
    assert "HOOK=pre-push\n" in (base.path / ".git" / "hooks" / "pre-push").read_text()
    assert not (base.path / ".git" / "hooks" / "pre-commit").exists()


def test_reinstall_is_idempotent(base: GitRepo) -> None:
    assert install(base).code == 0
    again = install(base)
    assert again.code == 0, again.err
    assert "updated the pre-commit hook" in again.err
    assert not (base.path / ".git" / "hooks" / "pre-commit.legacy").exists()


def test_foreign_hook_is_kept_as_legacy_runs_first_and_is_restored(base: GitRepo, model_server: ModelServer) -> None:
    hooks = base.path / ".git" / "hooks"
    foreign = FOREIGN.format(code=0)
    _write_hook(hooks / "pre-commit", foreign)
    result = install(base)
    assert result.code == 0, result.err
    assert "kept the existing hook as" in result.err
    assert (hooks / "pre-commit.legacy").read_text() == foreign

    _stage_change(base, "LEGACY_CHAIN")
    committed = git_run(base, "commit", "-q", "-m", "both", env=model_env(model_server.base_url))
    assert committed.code == 0, committed.text
    assert (base.path / ".git" / "foreign.log").read_text() == "foreign-hook-ran\n"
    assert "LEGACY_CHAIN" in prompts(model_server)

    removed = uninstall(base)
    assert removed.code == 0, removed.err
    assert "restored the previous hook" in removed.err
    assert (hooks / "pre-commit").read_text() == foreign
    assert not (hooks / "pre-commit.legacy").exists()


def test_failing_legacy_hook_stops_the_commit_before_the_review(base: GitRepo, model_server: ModelServer) -> None:
    _write_hook(base.path / ".git" / "hooks" / "pre-commit", FOREIGN.format(code=1))
    assert install(base).code == 0
    before = base.rev("HEAD")
    _stage_change(base, "BLOCKED_BY_LEGACY")
    committed = git_run(base, "commit", "-q", "-m", "no", env=model_env(model_server.base_url))
    assert committed.code != 0
    assert base.rev("HEAD") == before
    assert model_server.requests == []


def test_install_refuses_to_overwrite_an_existing_legacy(base: GitRepo) -> None:
    hooks = base.path / ".git" / "hooks"
    _write_hook(hooks / "pre-commit", FOREIGN.format(code=0))
    _write_hook(hooks / "pre-commit.legacy", "#!/bin/sh\nexit 0\n")
    result = install(base)
    assert result.code == 2
    assert "already exists" in result.err
    assert (hooks / "pre-commit").read_text() == FOREIGN.format(code=0)
    assert (hooks / "pre-commit.legacy").read_text() == "#!/bin/sh\nexit 0\n"


def test_uninstall_leaves_a_foreign_hook_and_tolerates_none(base: GitRepo) -> None:
    nothing = uninstall(base)
    assert nothing.code == 0
    assert "nothing to remove" in nothing.err
    _write_hook(base.path / ".git" / "hooks" / "pre-commit", FOREIGN.format(code=0))
    refused = uninstall(base)
    assert refused.code == 2
    assert "not installed by qwen-review" in refused.err
    assert (base.path / ".git" / "hooks" / "pre-commit").exists()


def test_core_hooks_path_is_refused_unless_forced(base: GitRepo, model_server: ModelServer) -> None:
    base.git("config", "core.hooksPath", ".githooks")
    refused = install(base)
    assert refused.code == 2
    assert "core.hooksPath is set (.githooks)" in refused.err
    assert "--force" in refused.err
    assert not (base.path / ".git" / "hooks" / "pre-commit").exists()
    assert not (base.path / ".githooks").exists()

    (base.path / "sub").mkdir()
    forced = install(base, "--force", cwd=base.path / "sub")  # relative to the work tree root, not the cwd
    assert forced.code == 0, forced.err
    hook = base.path / ".githooks" / "pre-commit"
    assert MARKER in hook.read_text()
    _stage_change(base, "HOOKS_PATH_MARK")
    committed = git_run(base, "commit", "-q", "-m", "hooks path", env=model_env(model_server.base_url))
    assert committed.code == 0, committed.text
    assert "HOOKS_PATH_MARK" in prompts(model_server)
    assert uninstall(base).code == 0
    assert not hook.exists()


def test_absolute_hooks_path_with_force(base: GitRepo, tmp_path: Path) -> None:
    shared = tmp_path / "shared-hooks"
    base.git("config", "core.hooksPath", str(shared))
    result = install(base, "--force")
    assert result.code == 0, result.err
    assert MARKER in (shared / "pre-commit").read_text()


def test_linked_worktree_installs_into_the_common_git_dir(base: GitRepo, tmp_path: Path) -> None:
    worktree = tmp_path / "linked"
    base.git("worktree", "add", "-q", "-b", "wt", str(worktree))
    result = install(base, cwd=worktree)
    assert result.code == 0, result.err
    assert MARKER in (base.path / ".git" / "hooks" / "pre-commit").read_text()
    assert not (base.path / ".git" / "worktrees" / "linked" / "hooks").exists()


def test_outside_a_repository_is_exit_2(tmp_path: Path) -> None:
    result = qwen(tmp_path, "install-hook")
    assert result.code == 2
    assert "not a git repository" in result.err


def test_repository_script_finds_qwen_review_on_path(base: GitRepo, model_server: ModelServer) -> None:
    shutil.copy(ROOT / "hooks" / "pre-commit", base.path / ".git" / "hooks" / "pre-commit")
    _stage_change(base, "ON_PATH_MARK")
    committed = git_run(base, "commit", "-q", "-m", "path", env=model_env(model_server.base_url),
                        path=f"{VENV_BIN}:{SYSTEM_PATH}")
    assert committed.code == 0, committed.text
    assert "ON_PATH_MARK" in prompts(model_server)


def test_recorded_interpreter_is_used_when_no_script_was_recorded(base: GitRepo, model_server: ModelServer) -> None:
    _write_hook(base.path / ".git" / "hooks" / "pre-commit", render_script("pre-commit", python=sys.executable))
    _stage_change(base, "INTERPRETER_MARK")
    committed = git_run(base, "commit", "-q", "-m", "python", env=model_env(model_server.base_url), path=SYSTEM_PATH)
    assert committed.code == 0, committed.text
    assert "INTERPRETER_MARK" in prompts(model_server)


def test_without_qwen_review_the_hook_warns_and_never_blocks(base: GitRepo, tmp_path: Path) -> None:
    gone = tmp_path / "uninstalled" / "bin" / "qwen-review"  # recorded at install, removed since
    _write_hook(base.path / ".git" / "hooks" / "pre-commit", render_script("pre-commit", script=str(gone)))
    before = base.rev("HEAD")
    _stage_change(base, "NOT_FOUND_MARK")
    # No PYTHONPATH either: the system python3 must not find this checkout's package.
    committed = git_run(base, "commit", "-q", "-m", "anyway", path=SYSTEM_PATH, unset=("PYTHONPATH",))
    assert committed.code == 0, committed.text
    assert "qwen-review not found" in committed.err
    assert base.rev("HEAD") != before
