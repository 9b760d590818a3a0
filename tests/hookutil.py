"""Helpers for the hook tests: model answers, the environment a real `git commit` runs its hook in."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.model_server import ModelServer
from tests.gitrepo import GIT_ENV, GitRepo

VENV_BIN = str(Path(sys.executable).parent)
QWEN_REVIEW = str(Path(VENV_BIN) / "qwen-review")
ROOT = Path(__file__).resolve().parent.parent


def answer(*findings: dict[str, object], summary: str = "Reviewed.") -> str:
    return json.dumps({"summary": summary, "findings": list(findings)})


def finding(path: str, line: int, severity: str, title: str, quote: str | None = None) -> dict[str, object]:
    return {"path": path, "line": line, "side": "RIGHT", "severity": severity, "category": "bug",
            "title": title, "body": "Explained here.", "quote": quote, "suggestion": None}


def model_env(base_url: str) -> dict[str, str]:
    """What the developer's shell would hold: a key for the (fake) endpoint; nothing else of the host."""
    return {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "qwen-test"}


def closed_port_url() -> str:
    """An endpoint where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def git_run(repo: GitRepo, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            path: str | None = None, input: str | None = None, unset: tuple[str, ...] = ()) -> Run:
    """Run real git (hooks included), with the test environment plus `env`; never raises."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    for name in unset:
        full_env.pop(name, None)
    if path is not None:
        full_env["PATH"] = path
    result = subprocess.run(["git", *args], cwd=cwd or repo.path, env=full_env, capture_output=True,
                            input=input.encode() if input is not None else None, check=False, timeout=120)
    return Run(result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"))


def qwen(cwd: Path, *args: str) -> Run:
    """The venv's console script, run as a user runs it (so it records itself in the hooks it installs)."""
    result = subprocess.run([QWEN_REVIEW, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    return Run(result.returncode, result.stdout, result.stderr)


def install(repo: GitRepo, *args: str, cwd: Path | None = None) -> Run:
    return qwen(cwd or repo.path, "install-hook", *args)


def uninstall(repo: GitRepo, *args: str, cwd: Path | None = None) -> Run:
    return qwen(cwd or repo.path, "uninstall-hook", *args)


def prompts(server: ModelServer) -> str:
    """Everything the model was sent, joined."""
    return "\n".join(request.prompt_text for request in server.requests)
