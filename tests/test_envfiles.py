"""`.env` discovery in Qwen Code's order: walk up, `.qwen/.env` before `.env`, then home; first file only; no override."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_review.envfiles import find_env_file, load_env_files


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A home directory and, outside it, a project with a nested working directory."""
    home = tmp_path / "home"
    cwd = tmp_path / "work" / "project" / "src" / "pkg"
    home.mkdir()
    cwd.mkdir(parents=True)
    return home, cwd


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nearest_level_wins_and_qwen_env_comes_before_env(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    project = cwd.parent.parent
    write(project / ".env", "WHERE=project-env\n")
    chosen = write(project / "src" / ".qwen" / ".env", "WHERE=src-qwen\n")
    write(project / "src" / ".env", "WHERE=src-env\n")
    write(home / ".qwen" / ".env", "WHERE=home\n")
    environ: dict[str, str] = {}
    assert load_env_files(cwd, home, environ) == chosen
    assert environ == {"WHERE": "src-qwen"}


def test_only_the_first_file_is_read(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    write(cwd / ".env", "A=1\n")
    write(cwd.parent / ".env", "B=2\n")
    write(home / ".env", "C=3\n")
    environ: dict[str, str] = {}
    load_env_files(cwd, home, environ)
    assert environ == {"A": "1"}


def test_a_set_variable_is_never_overridden(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    write(cwd / ".env", "OPENAI_API_KEY=from-file\nOPENAI_MODEL=qwen3-coder-plus\nEMPTY_SET=\n")
    environ = {"OPENAI_API_KEY": "from-environment", "EMPTY_SET": ""}
    load_env_files(cwd, home, environ)
    assert environ == {"OPENAI_API_KEY": "from-environment", "OPENAI_MODEL": "qwen3-coder-plus", "EMPTY_SET": ""}


def test_home_files_come_last_qwen_first(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    write(home / ".env", "WHERE=home-env\n")
    assert find_env_file(cwd, home, {}) == home / ".env"
    chosen = write(home / ".qwen" / ".env", "WHERE=home-qwen\n")
    assert find_env_file(cwd, home, {}) == chosen


def test_qwen_home_env_is_the_first_home_file(tree: tuple[Path, Path], tmp_path: Path) -> None:
    home, cwd = tree
    write(home / ".qwen" / ".env", "WHERE=legacy\n")
    chosen = write(tmp_path / "qhome" / ".env", "WHERE=qwen-home\n")
    assert find_env_file(cwd, home, {"QWEN_HOME": str(tmp_path / "qhome")}) == chosen


def test_walking_up_through_home_uses_the_home_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = home / "code" / "repo"
    cwd.mkdir(parents=True)
    write(tmp_path / ".env", "WHERE=above-home\n")  # above home: never reached before the home files
    chosen = write(home / ".qwen" / ".env", "WHERE=home-qwen\n")
    assert find_env_file(cwd, home, {}) == chosen


def test_a_project_env_cannot_move_qwen_home(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    write(cwd / ".env", "QWEN_HOME=/tmp/elsewhere\nQWEN_RUNTIME_DIR=/tmp/x\nOPENAI_MODEL=m\n")
    environ: dict[str, str] = {}
    load_env_files(cwd, home, environ)
    assert environ == {"OPENAI_MODEL": "m"}
    write(home / ".env", "QWEN_HOME=/tmp/home-chosen\n")
    home_environ: dict[str, str] = {}
    load_env_files(cwd, home, home_environ, project=False)
    assert home_environ == {"QWEN_HOME": "/tmp/home-chosen"}


def test_project_false_reads_only_home_files(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    write(cwd / ".env", "OPENAI_BASE_URL=http://attacker.example/v1\n")
    assert find_env_file(cwd, home, {}, project=False) is None
    environ: dict[str, str] = {}
    assert load_env_files(cwd, home, environ, project=False) is None
    assert environ == {}


def test_values_are_literal_and_quotes_are_parsed(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    write(cwd / ".env", 'export A="quoted value"\nB=${HOME}/x\n# comment\nC=\'single\'  # trailing\nNOVALUE\n')
    environ: dict[str, str] = {"HOME": "/home/someone"}
    load_env_files(cwd, home, environ)
    assert environ == {"HOME": "/home/someone", "A": "quoted value", "B": "${HOME}/x", "C": "single"}


def test_no_file_anywhere(tree: tuple[Path, Path]) -> None:
    home, cwd = tree
    environ: dict[str, str] = {}
    assert load_env_files(cwd, home, environ) is None
    assert environ == {}
