"""Revision forms, repository discovery and the errors that exit 2."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirun import Result, run_cli
from tests.gitrepo import GitRepo


def dry(repo_dir: Path, capsys: pytest.CaptureFixture[str], *args: str, **kw: dict[str, str]) -> Result:
    return run_cli(repo_dir, *args, "--dry-run", "-f", "json", capsys=capsys, **kw)  # type: ignore[arg-type]


def paths(result: Result) -> list[str]:
    assert result.code == 0, result.err
    return [f["path"] for f in result.json()["files"]]


@pytest.fixture
def history(repo: GitRepo) -> GitRepo:
    """main: c1 (a.py) -> c2 (b.py); feature from c2: c3 (c.py) -> c4 (d.py); main then gets c5 (e.py)."""
    repo.write("a.py", "a = 1\n")
    repo.commit("c1")
    repo.write("b.py", "b = 1\n")
    repo.commit("c2")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("c.py", "c = 1\n")
    repo.commit("c3")
    repo.write("d.py", "d = 1\n")
    repo.commit("c4")
    repo.git("checkout", "-q", "main")
    repo.write("e.py", "e = 1\n")
    repo.commit("c5")
    repo.git("checkout", "-q", "feature")
    return repo


def test_rev_is_merge_base_to_head(history: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert paths(dry(history.path, capsys, "HEAD~1")) == ["d.py"]
    # `main` = this branch's own changes, not main's later commit e.py.
    result = dry(history.path, capsys, "main")
    assert paths(result) == ["c.py", "d.py"]
    target = result.json()["target"]
    assert target["base"] == history.rev("main~1")
    assert target["head"] == history.rev("HEAD")
    assert target["kind"] == "range"
    assert target["spec"] == "main"


def test_two_and_three_dot_ranges(history: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert paths(dry(history.path, capsys, "main..feature")) == ["c.py", "d.py", "e.py"]
    assert paths(dry(history.path, capsys, "main...feature")) == ["c.py", "d.py"]


def test_single_commit_root_commit_and_merge(history: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert paths(dry(history.path, capsys, "HEAD~1^!")) == ["c.py"]
    root = history.rev("main~2")
    result = dry(history.path, capsys, f"{root}^!")
    assert paths(result) == ["a.py"]
    assert result.json()["target"]["base"] is None
    assert result.json()["target"]["kind"] == "commit"
    history.git("checkout", "-q", "main")
    history.git("merge", "-q", "--no-ff", "-m", "merge", "feature")
    # A merge commit against its first parent: what the merge brought into main.
    assert paths(dry(history.path, capsys, "HEAD^!")) == ["c.py", "d.py"]


def test_staged_changes_and_unborn_branch(make_repo: Callable[..., GitRepo], capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo()
    repo.write("first.py", "x = 1\n")
    repo.stage("first.py")
    result = dry(repo.path, capsys)
    assert paths(result) == ["first.py"]
    assert result.json()["target"] == {"kind": "staged", "spec": "--staged", "base": None, "head": None}
    repo.commit("first")
    repo.write("first.py", "x = 2\n")
    repo.write("unstaged.py", "y = 1\n")
    repo.stage("first.py")
    result = dry(repo.path, capsys, "--staged")
    assert paths(result) == ["first.py"]
    assert result.json()["target"]["base"] == repo.rev("HEAD")


def test_partially_staged_file_reviews_the_staged_version(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "one\ntwo\n")
    repo.commit("base")
    repo.write("a.py", "one\nstaged\n")
    repo.stage("a.py")
    repo.write("a.py", "one\nstaged\nworking tree only\n")
    (file,) = dry(repo.path, capsys).json()["files"]
    assert file["added_lines"] == [2]
    assert file["deleted_lines"] == [2]


def test_nothing_to_review_exits_0(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "a\n")
    repo.commit("base")
    result = run_cli(repo.path, capsys=capsys)
    assert result.code == 0
    assert result.err == "qwen-review: nothing to review: nothing staged (`qwen-review HEAD~1` reviews the last commit)\n"
    head = run_cli(repo.path, "HEAD", capsys=capsys)  # a first try at "the last commit"
    assert head.code == 0
    assert "no commit on HEAD that is not in HEAD (`qwen-review HEAD~1` reviews the last commit)" in head.err
    result = dry(repo.path, capsys, "HEAD..HEAD")
    assert result.code == 0
    assert result.json()["files"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuchrev",), "unknown revision: 'nosuchrev'\nqwen-review: hint: check it with `git rev-parse`"),
        (("HEAD~1",), "unknown revision: 'HEAD~1'\nqwen-review: hint: HEAD is the first commit; "
                      "`qwen-review HEAD^!` reviews it against the empty tree"),
        (("nosuch..HEAD",), "unknown revision: 'nosuch'"),
        (("HEAD", "--staged"), "either --staged or a revision"),
    ],
)
def test_bad_revisions_exit_2(repo: GitRepo, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    repo.write("a.py", "a\n")
    repo.commit("base")
    result = run_cli(repo.path, *args, capsys=capsys)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 2


def test_unrelated_histories_have_no_merge_base(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "a\n")
    repo.commit("base")
    repo.git("checkout", "-q", "--orphan", "other")
    repo.write("b.py", "b\n")
    repo.commit("other root")
    result = run_cli(repo.path, "main...other", capsys=capsys)
    assert result.code == 2
    assert "no common ancestor" in result.err
    assert "hint: `qwen-review main..other` compares their trees instead" in result.err
    branch = run_cli(repo.path, "main", capsys=capsys)
    assert "hint: `qwen-review main..HEAD` compares their trees instead" in branch.err


def test_not_a_repository_and_bare_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    result = run_cli(outside, "HEAD~1", capsys=capsys, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert result.code == 2
    assert "not a git repository" in result.err
    bare = GitRepo(tmp_path / "bare.git")
    bare.path.mkdir()
    bare.git("init", "-q", "--bare")
    result = run_cli(bare.path, capsys=capsys)
    assert result.code == 2
    assert "bare repository" in result.err


def test_unborn_head_with_revision_exits_2(make_repo: Callable[..., GitRepo], capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo()
    result = run_cli(repo.path, "HEAD~1", capsys=capsys)
    assert result.code == 2
    assert "unborn" in result.err


def test_from_a_subdirectory_and_a_linked_worktree(history: GitRepo, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    sub = history.path / "pkg" / "deep"
    sub.mkdir(parents=True)
    assert paths(dry(sub, capsys, "HEAD~1")) == ["d.py"]
    worktree = tmp_path / "wt"
    history.git("worktree", "add", "-q", str(worktree), "main")
    (worktree / "wt.py").write_text("w = 1\n")
    GitRepo(worktree).git("add", "wt.py")
    assert paths(dry(worktree, capsys)) == ["wt.py"]
    assert paths(dry(worktree, capsys, "HEAD~1")) == ["e.py"]


def test_git_index_file_is_honoured(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    """During `git commit -a` hooks see a temporary index named by GIT_INDEX_FILE."""
    repo.write("a.py", "a\n")
    repo.commit("base")
    repo.write("a.py", "changed\n")
    repo.write("b.py", "b\n")
    temp_index = repo.path / ".git" / "next-index-test"
    env = {"GIT_INDEX_FILE": str(temp_index)}
    repo.git("read-tree", "HEAD", env=env)
    repo.git("add", "b.py", env=env)
    assert paths(dry(repo.path, capsys, env=env)) == ["b.py"]
    assert paths(dry(repo.path, capsys)) == []
    assert "GIT_INDEX_FILE" not in os.environ


def test_config_unknown_key_and_wrong_type_exit_2(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "a\n")
    repo.commit("base")
    repo.write("a.py", "b\n")
    repo.stage()
    repo.write(".qwen-review.toml", 'fail_on = "high"\nmodle = "x"\n')
    result = run_cli(repo.path, "--dry-run", capsys=capsys)
    assert result.code == 2
    assert "unknown key 'modle'" in result.err
    repo.write(".qwen-review.toml", 'concurrency = "many"\n')
    result = run_cli(repo.path, "--dry-run", capsys=capsys)
    assert result.code == 2
    assert "'concurrency'" in result.err
    repo.write(".qwen-review.toml", "this is not toml\n")
    result = run_cli(repo.path, "--dry-run", capsys=capsys)
    assert result.code == 2
    assert "invalid TOML" in result.err


def test_pyproject_table_and_flag_precedence(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "a\n")
    repo.write("b.txt", "b\n")
    repo.write("pyproject.toml", '[project]\nname = "x"\n\n[tool.qwen-review]\nexclude = ["*.txt"]\n')
    repo.stage()
    by_path = {f["path"]: f["skipped"] for f in dry(repo.path, capsys).json()["files"]}
    assert by_path == {"a.py": None, "b.txt": "excluded", "pyproject.toml": None}
    by_path = {f["path"]: f["skipped"] for f in dry(repo.path, capsys, "--include", "*.txt").json()["files"]}
    assert by_path == {"a.py": "excluded", "b.txt": "excluded", "pyproject.toml": "excluded"}
    explicit = repo.path / "other.toml"
    explicit.write_text('exclude = ["a.py"]\n')
    by_path = {f["path"]: f["skipped"] for f in dry(repo.path, capsys, "--config", str(explicit)).json()["files"]}
    assert by_path["a.py"] == "excluded"
    assert by_path["b.txt"] is None
    missing = run_cli(repo.path, "--config", "nope.toml", capsys=capsys)
    assert missing.code == 2
    assert "cannot read config file" in missing.err


def test_pyproject_table_spelt_with_an_underscore_and_a_config_file_beside_it(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "a\n")
    repo.write("b.txt", "b\n")
    repo.write("pyproject.toml", '[project]\nname = "x"\ndependencies = ["qwen-review"]\n\n'
                                 '[tool.qwen_review]\nexclude = ["*.txt"]\n')
    repo.stage()
    underscore = dry(repo.path, capsys)
    assert {f["path"]: f["skipped"] for f in underscore.json()["files"]}["b.txt"] == "excluded"
    assert underscore.err == ""
    # A config file beside the table wins, and says so.
    repo.write(".qwen-review.toml", 'exclude = ["a.py"]\n')
    both = dry(repo.path, capsys)
    skipped = {f["path"]: f["skipped"] for f in both.json()["files"]}
    assert (skipped["a.py"], skipped["b.txt"]) == ("excluded", None)
    assert both.err == ("qwen-review: warning: .qwen-review.toml is used; the [tool.qwen-review] table in "
                        "pyproject.toml is ignored\n")
    # A pyproject.toml that only names qwen-review as a dependency configures nothing: no warning.
    repo.write("pyproject.toml", '[project]\nname = "x"\ndependencies = ["qwen-review"]\n')
    assert dry(repo.path, capsys).err == ""
    (repo.path / ".qwen-review.toml").unlink()
    repo.write("pyproject.toml", '[tool.qwen-review]\nexclude = []\n[tool.qwen_review]\nexclude = []\n')
    twice = run_cli(repo.path, "--dry-run", capsys=capsys)
    assert twice.code == 2
    assert "both [tool.qwen-review] and [tool.qwen_review]: keep one" in twice.err


def test_a_history_shorter_than_asked_points_at_the_log(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(2):
        repo.write("a.py", f"a = {n}\n")
        repo.commit(f"commit {n}")
    result = run_cli(repo.path, "HEAD~5", capsys=capsys)
    assert result.code == 2
    assert result.err == ("qwen-review: error: unknown revision: 'HEAD~5'\n"
                          "qwen-review: hint: the history of HEAD is not that long; see `git log --oneline HEAD`\n")
