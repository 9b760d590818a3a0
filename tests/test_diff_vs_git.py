"""The JSON report's files, hunks and line numbers agree with `git diff -M -U3` on every kind of change."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirun import run_cli
from tests.gitdiff import git_files
from tests.gitrepo import GitRepo

COMPARED = ("path", "old_path", "status", "hunks", "added_lines", "deleted_lines", "additions", "deletions")


def report_files(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    result = run_cli(repo.path, *args, "--dry-run", "-f", "json", capsys=capsys)
    assert result.code == 0, result.err
    files: list[dict[str, object]] = result.json()["files"]
    return files


def assert_agrees(ours: list[dict[str, object]], theirs: list[dict[str, object]]) -> None:
    assert [f["path"] for f in ours] == [f["path"] for f in theirs]
    for mine, git in zip(ours, theirs, strict=True):
        if mine["skipped"] in (None, "deleted"):
            assert {k: mine[k] for k in COMPARED} == {k: git[k] for k in COMPARED}, mine["path"]
        else:
            assert (mine["path"], mine["status"]) == (git["path"], git["status"])
            assert mine["hunks"] == []


def test_every_status_agrees_with_git(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"line {i}\n" for i in range(40)]
    repo.write("keep.py", "".join(lines))
    repo.write("gone.py", "a\nb\nc\n")
    repo.write("old name.py", "".join(f"def f{i}():\n    return {i}\n" for i in range(30)))
    repo.write("mode.sh", "echo hi\n")
    repo.write("kind", "plain file\n")
    repo.commit("base")
    edited = list(lines)
    edited[3] = "changed 3\n"
    edited[20:22] = ["inserted\n", "more\n", "lines\n"]
    del edited[35]
    repo.write("keep.py", "".join(edited))
    (repo.path / "gone.py").unlink()
    repo.git("mv", "old name.py", "new name.py")
    repo.write("new name.py", (repo.path / "new name.py").read_text() + "extra = 1\n")
    repo.write("added.py", "print('new')\n")
    (repo.path / "mode.sh").chmod(0o755)
    (repo.path / "kind").unlink()
    (repo.path / "kind").symlink_to("keep.py")
    repo.write("link", "")
    (repo.path / "link").unlink()
    (repo.path / "link").symlink_to("added.py")
    repo.commit("change")
    ours = report_files(repo, capsys, "HEAD~1")
    assert_agrees(ours, git_files(repo, "HEAD~1", "HEAD"))
    status = {f["path"]: f["status"] for f in ours}
    assert status == {
        "added.py": "added", "gone.py": "deleted", "keep.py": "modified", "kind": "type_changed",
        "link": "added", "mode.sh": "modified", "new name.py": "renamed",
    }
    by_path = {f["path"]: f for f in ours}
    assert by_path["new name.py"]["old_path"] == "old name.py"
    assert by_path["gone.py"]["skipped"] == "deleted"
    assert by_path["gone.py"]["deleted_lines"] == [1, 2, 3]
    assert by_path["mode.sh"]["hunks"] == []


def test_copies_when_enabled(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    body = "".join(f"value_{i} = {i} * 2\n" for i in range(50))
    repo.write("orig.py", body)
    repo.commit("base")
    repo.write("orig.py", body + "tail = 1\n")
    repo.write("copy.py", body)
    repo.write(".qwen-review.toml", "detect_copies = true\n")
    repo.commit("copy")
    repo.git("rm", "-q", "--cached", ".qwen-review.toml")
    ours = [f for f in report_files(repo, capsys, "HEAD~1") if f["path"] != ".qwen-review.toml"]
    theirs = [f for f in git_files(repo, "HEAD~1", "HEAD", copies=True) if f["path"] != ".qwen-review.toml"]
    assert_agrees(ours, theirs)
    assert {f["path"]: f["status"] for f in ours}["copy.py"] == "copied"


def test_text_edge_cases(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("crlf.txt", "one\r\ntwo\r\nthree\r\n")
    repo.write("no_eol.txt", "first\nlast")
    repo.write("latin1.txt", "caf\xe9\n".encode("latin-1"))
    repo.write("dir with space/ünïcødé 名前.py", "x = 1\n")
    repo.commit("base")
    repo.write("crlf.txt", "one\r\nTWO\r\nthree\r\n")
    repo.write("no_eol.txt", "first\nlast changed")
    repo.write("latin1.txt", "caf\xe9 cr\xe8me\n\xff\xfe bytes\n".encode("latin-1"))
    repo.write("dir with space/ünïcødé 名前.py", "x = 2\n")
    repo.commit("edit")
    ours = report_files(repo, capsys, "HEAD~1")
    assert_agrees(ours, git_files(repo, "HEAD~1", "HEAD"))
    assert "dir with space/ünïcødé 名前.py" in [f["path"] for f in ours]


def test_binary_and_submodule_listed_and_skipped(
    make_repo: Callable[..., GitRepo], capsys: pytest.CaptureFixture[str], always_fork: list[int]
) -> None:
    sub = make_repo("sub")
    sub.write("s.txt", "s\n")
    sub.commit("sub")
    repo = make_repo("main")
    repo.write("img.bin", bytes(range(256)) * 4)
    repo.write("a.py", "a = 1\n")
    repo.commit("base")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "sub")
    repo.write("img.bin", bytes(range(255, -1, -1)) * 4)
    repo.write("a.py", "a = 2\n")
    repo.commit("binary and submodule")
    ours = report_files(repo, capsys, "HEAD~1")
    assert_agrees(ours, git_files(repo, "HEAD~1", "HEAD"))
    by_path = {f["path"]: f for f in ours}
    assert by_path["img.bin"]["binary"] is True
    assert by_path["img.bin"]["skipped"] == "binary"
    assert by_path["sub"]["skipped"] == "submodule"
    assert by_path["a.py"]["skipped"] is None
    assert len(always_fork) == 1  # the binary file's patch came from the child


def test_default_excludes_and_size_limit(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("src/app.py", "print(1)\n")
    repo.commit("base")
    repo.write("package-lock.json", "{}\n")
    repo.write("static/app.min.js", "var a=1;\n")
    repo.write("vendor/lib/x.go", "package x\n")
    repo.write("src/big.py", "x = 1\n" * 200_000)
    repo.write("src/app.py", "print(2)\n")
    repo.commit("change")
    by_path = {f["path"]: f for f in report_files(repo, capsys, "HEAD~1")}
    assert by_path["package-lock.json"]["skipped"] == "generated"
    assert by_path["static/app.min.js"]["skipped"] == "generated"
    assert by_path["vendor/lib/x.go"]["skipped"] == "excluded"
    assert by_path["src/big.py"]["skipped"] == "too_large"
    assert by_path["src/app.py"]["skipped"] is None
    # Skipped files cost no patch text: they carry no hunks.
    assert by_path["src/big.py"]["hunks"] == []
    included = {f["path"]: f for f in report_files(repo, capsys, "HEAD~1", "--include", "package-lock.json")}
    assert included["package-lock.json"]["skipped"] is None
    assert included["src/app.py"]["skipped"] == "excluded"
    excluded = {f["path"]: f for f in report_files(repo, capsys, "HEAD~1", "--exclude", "src/")}
    assert excluded["src/app.py"]["skipped"] == "excluded"


def _random_content(rng: random.Random, n: int) -> list[str]:
    return [f"{rng.choice(['alpha', 'beta', 'gamma', 'delta'])} {rng.randint(0, 30)}\n" for _ in range(n)]


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_agree_with_git(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], seed: int, request: pytest.FixtureRequest
) -> None:
    # Half the histories share their patches with a forked child, as a large diff does.
    children: list[int] = request.getfixturevalue("always_fork") if seed % 2 else []
    rng = random.Random(seed)
    contents = {f"d{i % 3}/f{i}.txt": _random_content(rng, rng.randint(1, 60)) for i in range(25)}
    for path, lines in contents.items():
        repo.write(path, "".join(lines))
    repo.commit("base")
    for path in list(contents):
        action = rng.random()
        if action < 0.15:
            (repo.path / path).unlink()
            del contents[path]
        elif action < 0.3 and len(contents[path]) >= 8:
            # Renames stay well above the 50% similarity threshold: near it, libgit2 and git
            # may pair files differently (the one documented difference).
            new_path = f"moved/{Path(path).name}"
            (repo.path / "moved").mkdir(exist_ok=True)
            repo.git("mv", path, new_path)
            contents[new_path] = contents.pop(path)
            if rng.random() < 0.5:
                contents[new_path].insert(rng.randint(0, len(contents[new_path])), "renamed edit\n")
                repo.write(new_path, "".join(contents[new_path]))
        elif action < 0.8:
            lines = contents[path]
            for _ in range(rng.randint(1, 8)):
                op = rng.random()
                at = rng.randint(0, len(lines))
                if op < 0.4:
                    lines[at:at] = _random_content(rng, rng.randint(1, 4))
                elif op < 0.7 and lines:
                    del lines[min(at, len(lines) - 1) : at + rng.randint(1, 3)]
                elif lines:
                    lines[min(at, len(lines) - 1)] = "replaced\n"
            text = "".join(lines)
            if rng.random() < 0.2:
                text = text.rstrip("\n")
            repo.write(path, text)
    repo.write(f"new_{seed}.txt", "".join(_random_content(rng, 10)))
    repo.commit("random edits")
    # Both the commit and the staged form of the same change.
    assert_agrees(report_files(repo, capsys, "HEAD~1"), git_files(repo, "HEAD~1", "HEAD"))
    repo.git("reset", "-q", "--soft", "HEAD~1")
    assert_agrees(report_files(repo, capsys), git_files(repo, "--cached"))
    assert len(children) == (2 if seed % 2 else 0)
