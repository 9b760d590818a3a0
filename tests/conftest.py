"""Every test runs with a private HOME, no provider credentials and no CI variables of the host."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.gitrepo import GIT_ENV, GitRepo

pytest_plugins = ["tests.fakes.model_server", "tests.fakes.github_server", "tests.prworld"]

# Variables that would let a test reach a real provider, a real GitHub or real user state.
_CLEARED_PREFIXES = ("OPENAI_", "QWEN_", "GITHUB_", "DASHSCOPE_", "OTEL_", "PRE_COMMIT", "GIT_")
_CLEARED = {"CI", "RUNNER_OS", "BUILDKITE", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "TF_BUILD",
            "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name in _CLEARED or name.startswith(_CLEARED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("QWEN_HOME", str(home / ".qwen"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NO_COLOR", "1")
    yield home


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    counter = iter(range(1_000_000))

    def factory(name: str | None = None, branch: str = "main") -> GitRepo:
        return GitRepo.init(tmp_path / (name or f"repo{next(counter)}"), branch=branch)

    return factory


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return make_repo("repo")


@pytest.fixture
def always_fork(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Share patch generation with a forked child on any diff, however small; yields the children's pids."""
    from qwen_review import forked

    children: list[int] = []
    real_fork = os.fork

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(forked, "MIN_PARALLEL_WEIGHT", 0)
    monkeypatch.setattr(os, "fork", counting_fork)
    yield children


@pytest.fixture
def two_units(repo: GitRepo) -> GitRepo:
    """Two changed files that each fill a review unit of their own."""
    repo.write(".qwen-review.toml", "max_prompt_tokens = 2000\n")  # one unit per file
    repo.write("README", "x\n")
    repo.commit("base")
    for name in ("first.py", "second.py"):
        repo.write(name, "".join(f"{name[:-3]}_{n} = compute({n}) + offset\n" for n in range(40)))
    repo.commit("two files")
    return repo
