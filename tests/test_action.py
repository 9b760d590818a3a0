"""action.yml's own `run:` step, executed with bash as the runner would, against the local fake servers."""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import venv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.github_server import BOT_LOGIN, TOKEN, FakeGitHub
from tests.fakes.model_server import ModelServer
from tests.gitrepo import GitRepo
from tests.prworld import API_KEY, EVAL, NUMBER, REPO, PullWorld, base_code, edit_line, make_world

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def evaluate(text: str, context: Mapping[str, Any]) -> str:
    """`${{ a.b.c }}` property paths, the only expressions action.yml uses, as the runner resolves them."""
    def resolve(match: re.Match[str]) -> str:
        value: Any = context
        for part in match[1].split("."):
            value = value[part]
        return str(value)
    return EXPRESSION.sub(resolve, text)


def run_step(*, with_: Mapping[str, str], world: PullWorld, runner_temp: Path, workspace: Path,
             workflow_token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """Run the composite action's `run:` steps (the `uses:` ones skipped) with the env the runner sets."""
    github = {"token": workflow_token, "action_path": str(ROOT)}
    inputs = {name: evaluate(str(spec.get("default", "")), {"github": github})
              for name, spec in ACTION["inputs"].items()}
    inputs.update(with_)
    context = {"inputs": inputs, "github": github,
               "steps": {"python": {"outputs": {"python-path": sys.executable}}}}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "OPENAI_", "QWEN_"))}
    runner_env = {
        "GITHUB_ACTIONS": "true", "CI": "true", "RUNNER_TEMP": str(runner_temp), "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(workspace), "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(world.event()), "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": world.github.base_url,
        "GITHUB_OUTPUT": str(world.output_file), "GITHUB_STEP_SUMMARY": str(world.step_summary),
        # Keep the install offline and quick: dependencies come from the test environment (see below).
        "QWEN_REVIEW_PIP_ARGS": "--no-deps --no-build-isolation --no-index",
    }
    result = None
    for step in ACTION["runs"]["steps"]:
        if "uses" in step:
            continue
        assert step["shell"] == "bash"
        env = {**base_env, **runner_env, **{k: evaluate(str(v), context) for k, v in step.get("env", {}).items()}}
        result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workspace, env=env, capture_output=True,
                                text=True, timeout=300, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            break
    assert result is not None
    return result


@pytest.fixture
def runner_temp(tmp_path: Path) -> Path:
    """RUNNER_TEMP holding the action's venv, made beforehand with the test environment's packages.

    The action reuses a venv it finds there; qwen-review itself is still installed by the action's
    own pip command from GITHUB_ACTION_PATH, so the install step is exercised.
    """
    temp = tmp_path / "runner_temp"
    env_dir = temp / "qwen-review-venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    purelib = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return temp


def test_the_run_step_never_interpolates_expressions_into_the_script() -> None:
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", "")
    assert {name: spec["value"] for name, spec in ACTION["outputs"].items()} == {
        name: f"${{{{ steps.review.outputs.{name} }}}}" for name in ("findings", "highest-severity", "comment-url")}
    assert [step.get("id") for step in ACTION["runs"]["steps"]] == ["python", "review"]


def test_the_action_reviews_publishes_and_sets_outputs(world: PullWorld, runner_temp: Path) -> None:
    # Someone else's comment wearing our marker: with the workflow token only github-actions[bot]'s count.
    world.github.add_issue_comment(REPO, NUMBER, "<!-- qwen-review:summary -->\nfake", login="mallory")
    result = run_step(world=world, runner_temp=runner_temp, workspace=world.checkout, with_={
        "api-key": API_KEY, "base-url": world.model.base_url, "model": "qwen-action-model", "fail-on": "High",
        "extra-args": "--instructions 'Focus on security, please' --exclude \"docs/**\""})
    assert result.returncode == 1, result.stderr  # a high finding and fail-on high (any case)
    [request] = world.model.requests
    assert request.body["model"] == "qwen-action-model" and request.bearer_is(API_KEY)
    assert "Focus on security, please" in request.prompt_text
    assert world.outputs()["findings"] == "1" and world.outputs()["highest-severity"] == "high"
    mine = [c for c in world.github.issue_comments[(REPO, NUMBER)] if c["user"]["login"] == BOT_LOGIN]
    assert len(mine) == 1 and world.outputs()["comment-url"] == mine[0]["html_url"]
    assert world.github.calls("PATCH") == []  # mallory's comment was not taken for ours
    assert [c["line"] for c in world.review_comments()] == [5]
    assert "eval of untrusted input" in world.step_summary.read_text()
    for stream in (result.stdout, result.stderr):
        leaks = [line for line in stream.splitlines() if (TOKEN in line or API_KEY in line)]
        assert all(line.startswith("::add-mask::") for line in leaks), leaks
    assert f"::add-mask::{TOKEN}" in result.stdout and f"::add-mask::{API_KEY}" in result.stdout


def test_without_the_fail_on_input_the_base_commits_fail_on_applies(
        tmp_path: Path, make_repo: Callable[..., GitRepo], github_server: FakeGitHub, model_server: ModelServer,
        runner_temp: Path) -> None:
    world = make_world(tmp_path, make_repo("dev"), github_server, model_server,
                       base_files={".qwen-review.toml": 'fail_on = "high"\n'})
    world.push({"app.py": edit_line(base_code(), 5, EVAL)}, "use eval")
    with_ = {"api-key": API_KEY, "base-url": world.model.base_url}
    failed = run_step(world=world, runner_temp=runner_temp, workspace=world.checkout, with_=with_)
    assert failed.returncode == 1, failed.stderr  # the repository's own threshold, not the input's default
    assert world.outputs()["highest-severity"] == "high"
    passed = run_step(world=world, runner_temp=runner_temp, workspace=world.checkout,
                      with_={**with_, "fail-on": "critical"})
    assert passed.returncode == 0, passed.stderr  # an explicit input still wins


def test_a_fork_run_without_the_secret_ends_with_a_notice(world: PullWorld, runner_temp: Path) -> None:
    world.head_repo = "someone/demo-fork"
    read_only = "ghs_a_read_only_fork_token_0000"
    result = run_step(world=world, runner_temp=runner_temp, workspace=world.checkout,
                      with_={"base-url": world.model.base_url}, workflow_token=read_only)
    assert result.returncode == 0, result.stderr
    assert "comes from a fork" in result.stderr
    # only the non-empty secrets are masked: an empty api-key adds no `::add-mask::` line
    assert [line for line in result.stdout.splitlines() if "add-mask" in line] == [f"::add-mask::{read_only}"]
    assert world.github.requests == [] and world.model.requests == []
    assert world.outputs() == {"findings": "0", "highest-severity": "none", "comment-url": ""}


def test_bad_extra_args_fail_with_an_annotation(world: PullWorld, runner_temp: Path) -> None:
    result = run_step(world=world, runner_temp=runner_temp, workspace=world.checkout,
                      with_={"api-key": API_KEY, "extra-args": "--instructions 'unclosed"})
    assert result.returncode != 0
    assert "::error title=qwen-review::extra-args: No closing quotation" in result.stderr
    assert world.github.requests == []
