"""With nothing to review the hook exits 0 without the model client, the GitHub library or any credential."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import GitRepo

# Runs the CLI in a fresh interpreter and reports what it imported and which files it opened.
PROBE = """
import json, os, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
from qwen_review.cli import main
code = main(sys.argv[1:])
heavy = ("openai", "github", "httpx", "pydantic", "jinja2", "rich", "detect_secrets", "dotenv",
         "qwen_review.config", "qwen_review.providers")
print(json.dumps({"code": code, "modules": sorted(m for m in heavy if m in sys.modules),
                  "opened": [p for p in opened if isinstance(p, str)]}), file=sys.__stdout__)
"""


def _probe(repo: GitRepo, *args: str) -> dict[str, Any]:
    home = Path(os.environ["HOME"])
    qwen_home = home / ".qwen"
    qwen_home.mkdir(exist_ok=True)
    (qwen_home / "oauth_creds.json").write_text("{not json")
    (repo.path / ".env").write_text("OPENAI_API_KEY=\n")
    # Any attempt to pick a provider here would fail loudly: broken credentials, no key.
    env = {**os.environ, "QWEN_OAUTH_CREDS": "{not json", "QWEN_OAUTH_REFRESH_TOKEN": ""}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=repo.path, env=env,
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    report["stderr"] = result.stderr
    credentials = [p for p in report["opened"] if str(qwen_home) in p or p.endswith(".env")]
    assert credentials == []
    return report


@pytest.fixture
def committed(repo: GitRepo) -> GitRepo:
    repo.write("a.py", "a = 1\n")
    repo.commit("base")
    return repo


def test_nothing_staged_imports_nothing_heavy(committed: GitRepo) -> None:
    committed.write("a.py", "a = 2\n")  # changed in the work tree only: nothing staged
    report = _probe(committed, "hook", "pre-commit")
    assert report["code"] == 0
    assert report["modules"] == []
    assert "nothing to review: nothing staged" in report["stderr"]


def test_unborn_branch_with_nothing_staged(repo: GitRepo) -> None:
    report = _probe(repo, "hook", "pre-commit")
    assert report["code"] == 0
    assert report["modules"] == []


def test_push_of_nothing_new_imports_nothing_heavy(committed: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    head = committed.rev("HEAD")
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", head)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", head)
    report = _probe(committed, "hook", "pre-commit")
    assert report["code"] == 0
    assert report["modules"] == []


def test_only_excluded_files_staged_never_builds_a_model_client(committed: GitRepo) -> None:
    committed.write("package-lock.json", "{}\n")
    committed.write("vendor/lib.js", "var x = 1;\n")
    committed.write("notes.txt", "skip me\n")
    committed.write(".qwen-review.toml", 'exclude = ["*.txt"]\n')
    committed.stage("package-lock.json", "vendor/lib.js", "notes.txt")
    report = _probe(committed, "hook", "pre-commit")
    assert report["code"] == 0
    assert not {"openai", "github", "httpx", "qwen_review.providers"} & set(report["modules"])
    assert "nothing to review: 2 excluded, 1 generated" in report["stderr"]


def test_deleting_files_only_is_nothing_to_review(committed: GitRepo) -> None:
    committed.git("rm", "-q", "a.py")
    report = _probe(committed, "hook", "pre-commit")
    assert report["code"] == 0
    assert "nothing to review: 1 deleted" in report["stderr"]
    assert "openai" not in report["modules"]
