"""The command line itself: help, version, output files, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwen_review import __version__
from tests.clirun import run_cli
from tests.fakes.model_server import ModelServer
from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parent.parent


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
    for command in ("review", "github", "hook", "auth", "install-hook", "templates"):
        assert f"\n    {command} " in top.out
    assert top.out.count("uninstall-hook") == 1  # each command listed once
    assert "qwen-review HEAD~1          review the last commit" in top.out
    hook = " ".join(run_cli(tmp_path, "hook", "--help", capsys=capsys).out.split())  # unwrapped
    assert "(default: high)" in hook and "(default: warn)" in hook and "(default: 60)" in hook


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
    assert result.err == f"qwen-review: wrote the json report to {target} (0 findings)\n"
    assert '"schema":"qwen-review/report@1"' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]
    quiet = run_cli(repo.path, "HEAD~1", "--dry-run", "-q", "-o", str(target), capsys=capsys)
    assert (quiet.code, quiet.err) == (0, "")


def test_the_output_file_name_picks_the_format_and_missing_directories_are_made(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    _changed(repo)
    reports = repo.path / "build" / "reports"
    for name, start in (("r.sarif", '{\n  "$schema"'), ("r.JSON", '{"schema"'), ("r.md", "## qwen-review"),
                        ("r.txt", "qwen-review HEAD~1 (range)\nDry run: no model was called.")):
        result = run_cli(repo.path, "HEAD~1", "--dry-run", "-o", str(reports / name), capsys=capsys)
        assert result.code == 0, result.err
        assert (reports / name).read_text().startswith(start), name
    explicit = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", "-o", str(reports / "r.md"), capsys=capsys)
    assert explicit.code == 0
    assert (reports / "r.md").read_text().startswith('{"schema"')  # -f wins over the name


def test_an_unwritable_output_fails_before_any_model_call(repo: GitRepo, capsys: pytest.CaptureFixture[str],
                                                          model_server: ModelServer) -> None:
    _changed(repo)
    env = {"OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": model_server.base_url, "OPENAI_MODEL": "m"}
    (repo.path / "reports").mkdir()
    for target, cause in ((repo.path / "reports", "it is a directory"),
                          (repo.path / "a.py" / "r.json", f"{repo.path / 'a.py'} is not a directory"),
                          (repo.path / "a.py" / "deeper" / "r.json", "Not a directory")):
        result = run_cli(repo.path, "HEAD~1", "--no-cache", "-o", str(target), capsys=capsys, env=env)
        assert result.code == 2
        assert result.err.splitlines()[0] == f"qwen-review: error: cannot write the report to {target}: {cause}"
        assert "Traceback" not in result.err
    assert model_server.requests == []


def test_python_dash_m_entry_point(repo: GitRepo) -> None:
    _changed(repo)
    proc = subprocess.run([sys.executable, "-m", "qwen_review", "HEAD~1", "--dry-run", "-f", "json"],
                          cwd=repo.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"path":"a.py"' in proc.stdout


def test_templates_export_copies_the_defaults_and_never_overwrites(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "custom"
    result = run_cli(tmp_path, "templates", "export", str(target), capsys=capsys)
    assert result.code == 0, result.err
    names = sorted(p.name for p in target.iterdir())
    assert {"system.j2", "unit.j2", "summary.md.j2", "report.md.j2"} <= set(names)
    assert (target / "system.j2").read_text() == (ROOT / "templates" / "system.j2").read_text()
    again = run_cli(tmp_path, "templates", "export", str(target), capsys=capsys)
    assert again.code == 2
    assert "already exist" in again.err
    assert "remove them" in again.err


def test_auth_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run_cli(tmp_path, "auth", "status", capsys=capsys, env={"OPENAI_API_KEY": "sk-status-check-key"})
    assert status.code == 0, status.err
    assert "provider: openai" in status.out
    assert "telemetry: off" in status.out
    assert "sk-status-check-key" not in status.out + status.err
    # Not a terminal (pytest captures the streams): login refuses and says what to use instead.
    login = run_cli(tmp_path, "auth", "login", capsys=capsys)
    assert login.code == 2
    assert "OPENAI_API_KEY" in login.err
    logout = run_cli(tmp_path, "auth", "logout", capsys=capsys)
    assert logout.code == 0


def test_progress_bar_only_in_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_review import output

    seen: list[int] = []
    with output.progress(3) as tick:  # stderr is not a terminal under pytest: a silent callback
        tick(1, 3)
        seen.append(1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    with output.progress(3) as tick:
        for done in range(1, 4):
            tick(done, 3)
            seen.append(done)
    assert seen == [1, 1, 2, 3]


def test_bad_values_name_the_layer_they_came_from(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    _changed(repo)
    repo.write(".qwen-review.toml", 'language = "en"\n')
    flag = run_cli(repo.path, "HEAD~1", "--dry-run", "--concurrency", "0", capsys=capsys)
    assert flag.code == 2
    assert "option --concurrency: key 'concurrency'" in flag.err
    env = run_cli(repo.path, "HEAD~1", "--dry-run", capsys=capsys, env={"QWEN_REVIEW_TIMEOUT": "soon"})
    assert env.code == 2
    assert "environment variable QWEN_REVIEW_TIMEOUT" in env.err
    maybe = run_cli(repo.path, "HEAD~1", "--dry-run", capsys=capsys, env={"QWEN_REVIEW_TELEMETRY": "maybe"})
    assert maybe.code == 2
    assert "environment variable QWEN_REVIEW_TELEMETRY: key 'telemetry'" in maybe.err and "(got 'maybe')" in maybe.err
    assert run_cli(repo.path, "HEAD~1", "--dry-run", capsys=capsys, env={"QWEN_REVIEW_TELEMETRY": "Off"}).code == 0
    repo.write(".qwen-review.toml", 'fail_on = "hihg"\n')
    typo = run_cli(repo.path, "HEAD~1", "--dry-run", capsys=capsys)
    assert typo.code == 2
    assert typo.err.endswith("key 'fail_on': Input should be 'none', 'info', 'low', 'medium', 'high' "
                             "or 'critical' (got 'hihg')\n")
    repo.write(".qwen-review.toml", b'language = "\xff"\n')
    binary = run_cli(repo.path, "HEAD~1", "--dry-run", capsys=capsys)
    assert binary.code == 2
    assert "is not UTF-8 text" in binary.err
    bad_glob = run_cli(repo.path, "HEAD~1", "--dry-run", "--config", "/dev/null", "--include", "[z-a]", capsys=capsys)
    assert bad_glob.code == 2
    assert "invalid glob '[z-a]'" in bad_glob.err


def test_output_through_a_symlink_keeps_the_link(repo: GitRepo, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    _changed(repo)
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", "-o", str(link), capsys=capsys)
    assert result.code == 0, result.err
    assert link.is_symlink()
    assert real.read_text().startswith('{"schema":"qwen-review/report@1"')
