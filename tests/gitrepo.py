"""Build real git repositories for tests, with a fixed author and clock."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}


class GitRepo:
    """A work tree in a temporary directory, driven by the real git command line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def init(cls, path: Path, branch: str = "main") -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "-q", "-b", branch)
        repo.git("config", "core.autocrlf", "false")
        repo.git("config", "commit.gpgsign", "false")
        return repo

    def git(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
            input: str | None = None) -> str:
        full_env = {**os.environ, **GIT_ENV, **(env or {})}
        # Bytes, decoded by hand: text mode would turn CRLF into LF and choke on non-UTF-8 content.
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=full_env, capture_output=True,
            check=False, input=input.encode() if input is not None else None,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
        return result.stdout.decode("utf-8", "replace")

    def write(self, relpath: str, content: str | bytes) -> Path:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode("utf-8"))
        return target

    def stage(self, *paths: str) -> None:
        self.git("add", "-A", "--", *(paths or (".",)))

    def commit(self, message: str = "change", *, all: bool = True) -> str:
        if all:
            self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.rev("HEAD")

    def rev(self, spec: str) -> str:
        return self.git("rev-parse", spec).strip()
