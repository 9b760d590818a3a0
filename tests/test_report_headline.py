"""The first lines of a report never call a change clean when the model did not (fully) review it."""

from __future__ import annotations

import json

import pytest

from tests.clirun import Result, run_cli
from tests.fakes.model_server import ModelServer, RecordedRequest, Reply, error_reply
from tests.gitrepo import GitRepo

CLEAN = json.dumps({"summary": "Fine.", "findings": []})


def review(repo: GitRepo, server: ModelServer, capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    env = {"OPENAI_API_KEY": "sk-test-key-for-the-fake-server", "OPENAI_BASE_URL": server.base_url,
           "OPENAI_MODEL": "qwen-test"}
    return run_cli(repo.path, "HEAD~1", "--no-cache", "--on-error", "warn", *args, capsys=capsys, env=env)


def test_a_review_where_every_unit_failed_is_headed_not_reviewed(
        two_units: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    model_server.fallback = error_reply(400, "bad request")
    text = review(two_units, model_server, capsys)
    markdown = review(two_units, model_server, capsys, "-f", "markdown")

    assert text.code == markdown.code == 0  # --on-error warn, as the hooks run
    assert text.out.splitlines()[1] == "Not reviewed: 2 of 2 units failed."
    assert "No findings" not in text.out and "No findings" not in markdown.out
    assert "\n\n**Not reviewed**: 2 of 2 units failed.\n" in markdown.out
    # Two requests were sent (400 is not retried), though none was answered: the footer counts them.
    assert "2 units (2 failed) · 2 model requests ·" in text.out
    assert "2 units (2 failed) · 2 model requests ·" in markdown.out


def test_a_partly_reviewed_change_says_which_part_had_no_findings(
        two_units: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    def by_file(request: RecordedRequest) -> Reply:
        return error_reply(400, "bad request") if "=== second.py" in request.prompt_text else Reply(text=CLEAN)

    model_server.fallback = by_file
    text = review(two_units, model_server, capsys)
    markdown = review(two_units, model_server, capsys, "-f", "markdown")

    assert text.out.splitlines()[1] == "No findings in the reviewed part; 1 of 2 units could not be reviewed."
    assert "\n\nNo findings in the reviewed part; **1 of 2 units could not be reviewed**.\n" in markdown.out
    assert "2 units (1 failed) · 2 model requests ·" in text.out
