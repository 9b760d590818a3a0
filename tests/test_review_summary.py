"""The review summary: each unit's summary once, and no wall of "No issues." for a many-unit review."""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from qwen_review.prompts import make_environment, render_summary
from tests.clirun import run_cli
from tests.fakes.model_server import ModelServer, Reply
from tests.gitrepo import GitRepo


def summary(summaries: list[str], *, units: int, findings: int = 0, failed: int = 0, files: int = 3) -> str:
    return render_summary(make_environment(), summaries=summaries, findings_count=findings, files_reviewed=files,
                          units=units, failed_units=failed)


def test_a_clean_many_unit_review_says_one_sentence() -> None:
    noise = ["No issues.", "No issues found.", "LGTM", "", "  no  issues ", "Looks good to me!"] * 11
    assert summary(noise, units=len(noise), files=70) == "No problems found in 70 files."


def test_identical_summaries_are_collapsed_in_first_seen_order() -> None:
    texts = ["Adds caching.", "No issues.", "Fixes the parser.", "adds  caching.", "Adds caching.", "LGTM"]
    assert summary(texts, units=6, findings=2) == "Adds caching.\n\nFixes the parser."


def test_a_single_unit_keeps_what_the_model_said() -> None:
    assert summary(["No issues."], units=1, files=1) == "No issues."


def test_failed_units_are_said_first_and_each_summary_is_its_own_paragraph() -> None:
    text = summary(["Adds caching.", "Fixes the parser.", "No issues."], units=4, findings=1, failed=1)
    html = MarkdownIt("commonmark").render(text)
    assert html == ("<p>1 of 4 review units could not be reviewed.</p>\n"
                    "<p>Adds caching.</p>\n<p>Fixes the parser.</p>\n")


@pytest.fixture
def three_files(repo: GitRepo) -> GitRepo:
    repo.write(".qwen-review.toml", "max_prompt_tokens = 2000\n")  # one unit per file
    repo.write("README", "x\n")
    repo.commit("base")
    for name in ("first.py", "second.py", "third.py"):
        repo.write(name, "".join(f"{name[:-3]}_{n} = compute({n}) + offset\n" for n in range(40)))
    repo.commit("three files")
    return repo


def test_every_report_of_a_clean_many_unit_review_has_a_one_line_summary(
        three_files: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    model_server.fallback = Reply(text=json.dumps({"summary": "No issues.", "findings": []}))
    env = {"OPENAI_API_KEY": "sk-test-key-for-the-fake-server", "OPENAI_BASE_URL": model_server.base_url,
           "OPENAI_MODEL": "qwen-test"}
    outs = {fmt: run_cli(three_files.path, "HEAD~1", "--no-cache", "-f", fmt, capsys=capsys, env=env)
            for fmt in ("json", "text", "markdown")}

    assert outs["json"].json()["stats"]["units"] == 3
    assert outs["json"].json()["summary"] == "No problems found in 3 files."
    assert "Summary\n  No problems found in 3 files.\n" in outs["text"].out
    assert "### Summary\n\nNo problems found in 3 files.\n" in outs["markdown"].out
    assert not any("No issues." in result.out for result in outs.values())
