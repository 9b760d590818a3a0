"""The command line itself: help, version, output files, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwen_review import __version__
from tests.clirun import run_cli
from tests.gitrepo import GitRepo


def test_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(tmp_path, "--version", capsys=capsys)
    assert result.code == 0
    assert result.out.strip() == f"qwen-review {__version__}"


def test_help_explains_every_revision_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(tmp_path, "review", "--help", capsys=capsys)
    assert result.code == 0
    for text in ("qwen-review HEAD~1", "qwen-review main", "^!", "A..B", "A...B", "--staged",
                 "--dry-run", "--fail-on", "exit codes", "130"):
        assert text in result.out
    top = run_cli(tmp_path, "--help", capsys=capsys)
    for command in ("review", "github", "auth", "install-hook", "templates export"):
        assert command in top.out


def test_unknown_option_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(tmp_path, "--no-such-option", capsys=capsys)
    assert result.code == 2
    assert "unrecognized arguments" in result.err


def _changed(repo: GitRepo) -> None:
    repo.write("a.py", "a = 1\n")
    repo.commit("base")
    repo.write("a.py", "a = 2\n")
    repo.commit("edit")


def test_output_file_is_written_whole(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    _changed(repo)
    target = repo.path / "out" / "report.json"
    target.parent.mkdir()
    result = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", "-o", str(target), capsys=capsys)
    assert result.code == 0
    assert result.out == ""
    assert '"schema": "qwen-review/report@1"' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_unwritable_output_is_a_one_line_error(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    _changed(repo)
    result = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", "-o", str(repo.path / "missing" / "r.json"),
                     capsys=capsys)
    assert result.code == 2
    assert "cannot write the report" in result.err
    assert "Traceback" not in result.err


def test_python_dash_m_entry_point(repo: GitRepo) -> None:
    _changed(repo)
    proc = subprocess.run([sys.executable, "-m", "qwen_review", "HEAD~1", "--dry-run", "-f", "json"],
                          cwd=repo.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"path": "a.py"' in proc.stdout
