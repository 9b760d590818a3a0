"""The real pre-commit framework runs this checkout's hook (`pre-commit try-repo`) at pre-commit and pre-push."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer, Reply
from tests.gitrepo import GitRepo
from tests.hookutil import ROOT, Run, answer, finding, model_env, prompts

# What `pip install .` needs from this checkout; the copy is committed so try-repo installs exactly it.
SOURCES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "hooks", "qwen_review", "templates")


@pytest.fixture
def hook_repo(tmp_path: Path) -> Path:
    """This checkout's working state as a repository of its own (untracked files included)."""
    copy = tmp_path / "qwen-review-src"
    copy.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, copy / name)
    repo = GitRepo.init(copy)
    repo.commit("snapshot")
    return copy


def _framework_env(server: ModelServer) -> dict[str, str]:
    """No network: pip installs the hook's package with no index and finds its dependencies (and the
    hatchling backend, build isolation off) in this test environment's site-packages."""
    return {
        **os.environ, **model_env(server.base_url),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip reads the value into build_isolation: "0" turns isolation off
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "PYTHONPATH": os.pathsep.join(site.getsitepackages()),
    }


def _try_repo(repo: GitRepo, hook_repo: Path, server: ModelServer, *args: str) -> Run:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "qwen-review", "--verbose", *args],
        cwd=repo.path, env=_framework_env(server), capture_output=True, text=True, check=False, timeout=300)
    return Run(result.returncode, result.stdout, result.stderr)


def test_pre_commit_stage_reviews_the_index_and_shows_findings(repo: GitRepo, hook_repo: Path,
                                                               model_server: ModelServer) -> None:
    repo.write("shop.py", "def price(item):\n    return item.price\n")
    repo.commit("base")
    repo.write("shop.py", "def price(item):\n    return item.price\nSTAGED_MARK = 1\n")
    repo.stage()
    model_server.script(Reply(text=answer(finding("shop.py", 3, "low", "Constant name is vague"))))
    result = _try_repo(repo, hook_repo, model_server)
    assert result.code == 0, result.text
    assert "qwen-review" in result.out and "Passed" in result.out
    assert "Constant name is vague" in result.out  # verbose: shown although the hook passed
    assert "STAGED_MARK = 1" in prompts(model_server)


def test_pre_push_stage_reviews_the_pushed_range_and_blocks(repo: GitRepo, hook_repo: Path,
                                                            model_server: ModelServer) -> None:
    repo.write("old.py", "OLD_MARK = 1\n")
    pushed = repo.commit("already pushed")
    repo.write("new.py", "NEW_MARK = 2\n")
    head = repo.commit("to push")
    model_server.script(Reply(text=answer(finding("new.py", 1, "high", "Breaks the build"))))
    result = _try_repo(repo, hook_repo, model_server, "--hook-stage", "pre-push",
                       "--from-ref", pushed, "--to-ref", head)
    assert result.code == 1, result.text
    assert "Failed" in result.out
    assert "Breaks the build" in result.out
    # pre-commit sets PRE_COMMIT=1: the way past names SKIP, which skips this hook alone.
    assert "push blocked: 1 finding at or above high" in result.out
    assert "`SKIP=qwen-review git push`" in result.out
    sent = prompts(model_server)
    assert "NEW_MARK = 2" in sent
    assert "OLD_MARK" not in sent
