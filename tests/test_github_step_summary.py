"""The step summary stays under GitHub's 1 MiB limit, which would otherwise drop it whole."""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

from qwen_review.pr_actions import STEP_SUMMARY_BUDGET, step_summary_report
from qwen_review.prompts import make_environment
from qwen_review.review import Finding, ProviderInfo, Review, Stats
from qwen_review.target import Target

MIB = 1024 * 1024
FOOTER = "Summary comment: https://github.example/octo/demo/pull/7#issuecomment-1"


def review(findings: list[Finding], summary: str = "Looked at it.") -> Review:
    target = Target(kind="pull_request", spec="a..b", base_commit="a" * 40, head_commit="b" * 40,
                    base_tree=None, head_tree=None)
    return Review(target=target, provider=ProviderInfo(kind="openai", model="qwen-test"), files=[],
                  findings=findings, summary=summary, stats=Stats(files=len(findings), units=1))


def finding(index: int, *, body: str, suggestion: str | None = None, title: str | None = None) -> Finding:
    return Finding(path=f"src/m{index:03}.py", line=2, end_line=None, side="RIGHT", severity="low",
                   category="bug", title=title or f"eval number {index}", body=body, suggestion=suggestion,
                   anchored=True, fingerprint=f"fp-{index}")


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def html(text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(text)


def test_a_long_body_is_capped_as_in_the_pr_comments_and_the_report_says_so() -> None:
    huge = review([finding(1, body="A very long explanation.\n" * 3_000, suggestion="x = 1\n" * 5_000,
                           title="t" * 1_000)])
    text = step_summary_report(huge, env=make_environment(), footer=FOOTER)

    assert size(text) < 25_000 and "… (cut)" in text and "x = 1" not in text  # a cut suggestion is left out
    assert "t" * 299 + "…" in text and "t" * 300 not in text
    assert "> Long text from the model was cut here, as in the pull request's comments; to keep the whole " \
           "report, run with `-o FILE`" in text
    assert text.endswith(f"\n\n{FOOTER}")
    assert len(huge.findings[0].body) == 75_000  # the review itself (the -o and JSON reports) keeps it whole
    small = step_summary_report(review([finding(1, body="Short.")]), env=make_environment(), footer=FOOTER)
    assert "shortened" not in small and "</sub>\n\n" + FOOTER in small and small.endswith(FOOTER)


def test_many_findings_keep_their_titles_with_shorter_bodies_under_1_mib() -> None:
    many = review([finding(i, body="Long reasoning. " * 250, suggestion="w = int(x)") for i in range(300)])
    text = step_summary_report(many, env=make_environment(), footer=FOOTER, full_report=Path("out/report.json"))

    assert size(text) <= STEP_SUMMARY_BUDGET < MIB
    assert all(f"eval number {i}" in text for i in range(300))
    assert "> This report was shortened to stay under GitHub's 1 MiB limit for a step summary; the whole report " \
           "was written to `out/report.json`." in text and text.endswith(FOOTER)


def test_past_every_shortening_the_report_is_cut_before_a_heading_outside_code() -> None:
    summary = "Overview.\n\n```text\n" + "a line of the model's summary\n" * 500 + "```\n\nThe end."
    many = review([finding(i, body="Short.") for i in range(400)], summary=summary)
    for budget in (10_000, 40_000, 41_000):
        text = step_summary_report(many, env=make_environment(), footer=FOOTER, budget=budget)
        assert size(text) <= budget
        # the note and the footer are read as such, not swallowed by a code block the cut left open
        assert html(text).endswith("and upload the file with actions/upload-artifact.</p>\n</blockquote>\n"
                                   f"<p>{FOOTER}</p>\n")
        report, _ = text.split("\n\n> This report was shortened to stay under GitHub's 1 MiB limit")
        kept = re.findall(r"eval number (\d+)", report)
        assert kept == [str(i) for i in range(len(kept))] and len(kept) < 400
        if budget == 10_000:  # the summary's code block would cross the budget: cut before its heading
            assert report.endswith("**400 findings**: \U0001f7e1 400 low") and not kept
        else:
            assert "The end." in report and report.endswith(f"`src/m{int(kept[-1]):03}.py:2` · bug")
