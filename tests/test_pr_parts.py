"""The pieces of `qwen-review github`: event parsing, runner files, base-commit config, patch trees."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pygit2
import pytest

from qwen_review.diff import collect
from qwen_review.errors import ConfigError, UsageError
from qwen_review.pr_actions import annotate, append_step_summary, escape_data, format_outputs, write_outputs
from qwen_review.pr_base import base_config, base_templates
from qwen_review.pr_diff import HunkHeader, PRFile, parse_hunk_header
from qwen_review.pr_event import PullRequestRef, Skip, pull_request_of, read_payload, runner_env
from qwen_review.pr_fetch import ensure_history
from qwen_review.pr_patches import patch_trees, sides_from_patch
from qwen_review.target import Target, commits_target, open_repository
from tests.fakes.github_server import files_from_git_diff
from tests.gitrepo import GitRepo

BASE, HEAD = "a" * 40, "b" * 40


def event(**pull: object) -> dict[str, object]:
    data: dict[str, object] = {"number": 3, "draft": False, "base": {"sha": BASE, "repo": {"full_name": "o/r"}},
                               "head": {"sha": HEAD, "repo": {"full_name": "o/r"}}, "user": {"login": "dev"}}
    data.update(pull)
    return {"action": "synchronize", "pull_request": data}


def test_pull_request_events_name_the_pr_and_recognise_forks() -> None:
    runner = runner_env({"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_REPOSITORY": "o/r",
                         "GITHUB_TOKEN": "secret-token"})
    assert "secret-token" not in repr(runner)
    assert pull_request_of(runner, event(), pr_number=None) == PullRequestRef("o/r", 3, BASE, HEAD, draft=False,
                                                                              fork=False, from_api=False)
    fork = event(head={"sha": HEAD, "repo": {"full_name": "someone/r"}})
    deleted_fork = event(head={"sha": HEAD, "repo": None})
    dependabot = event(user={"login": "dependabot[bot]"})
    for payload in (fork, deleted_fork, dependabot):
        result = pull_request_of(runner, payload, pr_number=None)
        assert isinstance(result, PullRequestRef) and result.fork


def test_dispatch_numbers_come_from_the_flag_or_the_inputs() -> None:
    runner = runner_env({"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REPOSITORY": "o/r"})
    for payload in ({"inputs": {"pr": "12"}}, {"inputs": {"pull-request": "#12"}}, {"inputs": {"number": 12}}):
        result = pull_request_of(runner, payload, pr_number=None)
        assert isinstance(result, PullRequestRef) and (result.number, result.from_api) == (12, True)
    by_flag = pull_request_of(runner, {}, pr_number=5)
    assert isinstance(by_flag, PullRequestRef) and by_flag.number == 5
    with pytest.raises(UsageError, match="names no pull request"):
        pull_request_of(runner, {"inputs": {}}, pr_number=None)
    with pytest.raises(UsageError, match="not a pull request number"):
        pull_request_of(runner, {"inputs": {"pr": "main"}}, pr_number=None)


def test_other_events_are_skipped_and_broken_ones_refused(tmp_path: Path) -> None:
    runner = runner_env({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": "o/r"})
    assert isinstance(pull_request_of(runner, {**event(), "action": "edited"}, pr_number=None), Skip)
    assert isinstance(pull_request_of(runner_env({"GITHUB_EVENT_NAME": "schedule"}), {}, pr_number=None), Skip)
    with pytest.raises(UsageError, match=r"lacks pull_request.number, base.sha or head.sha"):
        pull_request_of(runner, event(base={"sha": "not-a-sha"}), pr_number=None)
    path = tmp_path / "event.json"
    path.write_text(json.dumps([1]))
    with pytest.raises(UsageError, match="does not hold a JSON object"):
        read_payload(path, {})
    assert read_payload(None, {}) is None
    # without GITHUB_EVENT_NAME an event file holding a pull_request is taken for one
    unnamed = pull_request_of(runner_env({"GITHUB_REPOSITORY": "o/r"}), event(), pr_number=None)
    assert isinstance(unnamed, PullRequestRef)


def test_no_event_at_all_is_a_usage_error_unless_a_number_is_given() -> None:
    by_hand = runner_env({"GITHUB_REPOSITORY": "o/r"})
    with pytest.raises(UsageError, match="no pull-request event: run inside GitHub Actions or pass --event-path"):
        pull_request_of(by_hand, None, pr_number=None)
    with pytest.raises(UsageError, match="no pull-request event: run inside GitHub Actions"):
        pull_request_of(runner_env({"GITHUB_EVENT_NAME": "pull_request"}), None, pr_number=None)
    with pytest.raises(UsageError, match="no pull_request object and GITHUB_EVENT_NAME is not set"):
        pull_request_of(by_hand, {"ref": "refs/heads/main"}, pr_number=None)
    by_number = pull_request_of(by_hand, None, pr_number=9)
    assert isinstance(by_number, PullRequestRef) and (by_number.number, by_number.from_api) == (9, True)


def test_outputs_survive_line_breaks_and_annotations_escape_them(tmp_path: Path) -> None:
    text = format_outputs({"findings": "2", "comment-url": "", "note": "two\nlines"})
    lines = text.split("\n")
    assert lines[:2] == ["findings=2", "comment-url="]
    delimiter = lines[2].split("<<", 1)[1]
    assert lines[3:6] == ["two", "lines", delimiter] and delimiter.startswith("ghadelimiter_")
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    output = tmp_path / "out"
    write_outputs(output, {"a": "1"})
    write_outputs(output, {"b": "2"})
    assert output.read_text() == "a=1\nb=2\n"
    append_step_summary(tmp_path / "summary.md", "# one")
    append_step_summary(tmp_path / "summary.md", "# two\n")
    assert (tmp_path / "summary.md").read_text() == "# one\n\n# two\n\n"
    write_outputs(None, {"ignored": "x"})
    with pytest.raises(UsageError, match="cannot write the step outputs"):
        write_outputs(tmp_path / "missing" / "out", {"a": "1"})


def test_annotations_are_written_only_inside_github_actions(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    for value in (None, "", "false", "1"):
        if value is None:
            monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
        else:
            monkeypatch.setenv("GITHUB_ACTIONS", value)
        annotate("error", "in a terminal")
        assert capsys.readouterr() == ("", "")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    annotate("warning", "50% on\ntwo lines", title="qwen-review: a, b")
    assert capsys.readouterr() == ("", "::warning title=qwen-review%3A a%2C b::50%25 on%0Atwo lines\n")


def test_config_and_templates_are_read_from_the_base_commit_only(repo: GitRepo) -> None:
    repo.write("pyproject.toml", '[tool.qwen-review]\nmodel = "from-pyproject"\n')
    repo.write("ci/review.toml", 'model = "from-ci-file"\n')
    repo.write("prompts/unit.j2", "BASE UNIT\n")
    base = repo.commit("base")
    repo.write(".qwen-review.toml", 'model = "from-the-pr"\n')
    repo.write("ci/review.toml", 'model = "changed-by-the-pr"\n')
    repo.write("prompts/unit.j2", "PR UNIT\n")
    repo.commit("pr")
    git = open_repository(repo.path)
    assert base_config(git, base, root=repo.path, config_path=None).values == {"model": "from-pyproject"}
    chosen = base_config(git, base, root=repo.path, config_path=repo.path / "ci" / "review.toml")
    assert chosen.values == {"model": "from-ci-file"} and chosen.source == f"{base[:12]}:ci/review.toml"
    with pytest.raises(ConfigError, match="no such file in the base commit"):
        base_config(git, base, root=repo.path, config_path=repo.path / "nope.toml")
    outside = repo.path.parent / "outside.toml"
    outside.write_text('model = "from-runner-temp"\n')
    assert base_config(None, base, root=repo.path, config_path=outside).values == {"model": "from-runner-temp"}
    assert base_config(None, base, root=repo.path, config_path=None).values == {}
    env = jinja2.Environment(loader=base_templates(git, base, root=repo.path, templates_dir="./prompts/"))
    assert env.get_template("unit.j2").render() == "BASE UNIT"
    with pytest.raises(jinja2.TemplateNotFound):
        env.get_template("system.j2")
    with pytest.raises(ConfigError, match="must stay inside the repository"):
        base_templates(git, base, root=repo.path, templates_dir="../elsewhere")


def test_the_base_commit_config_is_found_as_in_a_work_tree(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("pyproject.toml", '[project]\ndependencies = ["qwen-review"]\n[tool.qwen_review]\nmodel = "underscore"\n')
    first = repo.commit("the underscore spelling")
    git = open_repository(repo.path)
    assert base_config(git, first, root=repo.path, config_path=None).values == {"model": "underscore"}
    repo.write(".qwen-review.toml", 'model = "file"\n')
    second = repo.commit("a config file beside the table")
    chosen = base_config(git, second, root=repo.path, config_path=None)
    assert chosen.values == {"model": "file"} and chosen.source == f"{second[:12]}:.qwen-review.toml"
    assert "the [tool.qwen-review] table in pyproject.toml is ignored" in capsys.readouterr().err


def test_sides_rebuilt_from_a_patch_keep_line_numbers_and_missing_newlines() -> None:
    old, new = sides_from_patch("@@ -3,2 +3,3 @@ def f():\n a\n-b\n+B\n+c\n\\ No newline at end of file")
    assert old.split("\n") == ["", "def f():", "a", "b", ""]  # the section text right above the hunk
    assert new == "\ndef f():\na\nB\nc"  # the last line has no newline, as the patch says
    assert sides_from_patch("@@ -0,0 +1,2 @@\n+x\n+y") == ("", "x\ny\n")


def test_patch_trees_reproduce_gits_hunks(repo: GitRepo) -> None:
    """The fallback's trees give the same hunks as the real commits, for every kind of change."""
    body = "".join(f"line {i}\n" for i in range(1, 61))
    repo.write("many.txt", body)
    repo.write("gone.txt", "bye\nnow\n")
    repo.write("old_name.py", "".join(f"def f{i}():\n    return {i}\n" for i in range(30)))
    repo.write("tail.txt", "a\nb\nc")
    base = repo.commit("base")
    lines = body.split("\n")
    lines[2], lines[40] = "LINE 3", "LINE 41\n\n"
    del lines[55]
    repo.write("many.txt", "\n".join(lines))
    (repo.path / "gone.txt").unlink()
    (repo.path / "old_name.py").rename(repo.path / "new_name.py")
    repo.write("new_name.py", (repo.path / "new_name.py").read_text().replace("return 7", "return 'seven'"))
    repo.write("tail.txt", "a\nb\nc\nd\n")
    repo.write("added.md", "# Title\n\ntext\n")
    repo.write("picture.png", b"\x89PNG\x00\x01binary")
    head = repo.commit("head")
    git = open_repository(repo.path)
    real = {f.path: f for f in collect(git, commits_target(git, "range", "r", base, head))}
    files = [PRFile(f.filename, f.status, f.patch, f.previous_filename)
             for f in files_from_git_diff(repo.git("diff", "-M", base, head))]
    with patch_trees(files) as trees:
        assert trees.unavailable == ("picture.png",)
        target = Target("pull_request", "#1", base, head, trees.base_tree, trees.head_tree)
        rebuilt = {f.path: f for f in collect(trees.repo, target)}
    assert set(rebuilt) == set(real) - {"picture.png"}
    for path, file in rebuilt.items():
        assert (file.status, file.old_path) == (real[path].status, real[path].old_path), path
        assert file.hunks == real[path].hunks, path
        assert (file.added_lines, file.deleted_lines) == (real[path].added_lines, real[path].deleted_lines)


def test_ensure_history_gives_up_cleanly_without_a_remote(repo: GitRepo, tmp_path: Path) -> None:
    repo.write("a.txt", "a\n")
    base = repo.commit("base")
    assert ensure_history(repo.path, base, "c" * 40) is None  # the head is nowhere to be had
    repo.git("remote", "add", "origin", (tmp_path / "missing.git").as_uri())
    calls: list[list[str]] = []

    def failing_git(cwd: Path, args: object) -> None:
        from qwen_review.errors import GitError

        calls.append(list(args))  # type: ignore[call-overload]
        raise GitError("git fetch failed: fatal: 'https://x-access-token:SECRET@example' not found")

    assert ensure_history(repo.path, base, "c" * 40, run=failing_git, scrub=lambda t: t.replace("SECRET", "***")) is None
    assert calls == [["fetch", "--no-tags", "--no-recurse-submodules", "--quiet", "origin", base, "c" * 40]]
    history = ensure_history(repo.path, base, base)
    assert history is not None and history.merge_base == base and isinstance(history.repo, pygit2.Repository)


def test_a_refused_sha_is_fetched_through_the_pull_requests_ref(repo: GitRepo, tmp_path: Path) -> None:
    repo.write("a.txt", "a\n")
    base = repo.commit("base")
    repo.git("remote", "add", "origin", (tmp_path / "missing.git").as_uri())
    calls: list[list[str]] = []

    def refusing_git(cwd: Path, args: object) -> None:
        from qwen_review.errors import GitError

        calls.append(list(args))  # type: ignore[call-overload]
        raise GitError("git fetch failed: error: Server does not allow request for unadvertised object")

    assert ensure_history(repo.path, base, "c" * 40, number=12, run=refusing_git) is None
    fetch = ["fetch", "--no-tags", "--no-recurse-submodules", "--quiet", "origin"]
    # the base is already here: only the pull request's head ref is asked for
    assert calls == [[*fetch, base, "c" * 40], [*fetch, "refs/pull/12/head"]]


def test_one_hunk_header_parser_for_githubs_patches() -> None:
    assert parse_hunk_header("@@ -3,2 +3,3 @@ def f():") == HunkHeader(3, 2, 3, 3, "def f():")
    assert parse_hunk_header("@@ -7 +7 @@") == HunkHeader(7, 1, 7, 1, "")  # an omitted count is 1
    assert parse_hunk_header("@@ -0,0 +1,2 @@") == HunkHeader(0, 0, 1, 2, "")
    for not_a_header in (" @@ -1 +1 @@", "+@@ -1 +1 @@", "@@ -a +1 @@", ""):
        assert parse_hunk_header(not_a_header) is None
