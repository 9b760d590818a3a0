"""The GitHub Actions runner's side channels: the step summary, step outputs and annotations."""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_review.errors import UsageError
from qwen_review.report.markdown import fence_closes, fence_opened

if TYPE_CHECKING:
    import jinja2

    from qwen_review.review import Finding, Review

# GitHub shows a step's summary only up to 1 MiB and drops a longer one whole; keep headroom for
# the lines around the report and anything else the step appends.
STEP_SUMMARY_BUDGET = 1_000_000
_BODY_LIMITS = (None, 1_000, 0)  # None: as the PR comments cap them (pr_summary.TEXT_LIMIT)
_TITLE_LIMIT = 300


def escape_data(text: str) -> str:
    """A workflow command's message: '%', CR and LF would end or corrupt the command line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def in_github_actions(env: Mapping[str, str]) -> bool:
    """A GitHub Actions runner: workflow commands are read there, and the action's inputs configure a run."""
    return env.get("GITHUB_ACTIONS") == "true"


def annotate(level: str, message: str, *, title: str = "qwen-review") -> None:
    """`::error::` / `::warning::` / `::notice::` on stderr (the runner reads both streams; stdout holds the report).

    Only inside GitHub Actions (`GITHUB_ACTIONS=true`): in a terminal the workflow command would be
    a second copy of the `qwen-review: error: ...` line that every message gets anyway.
    """
    if not in_github_actions(os.environ):
        return
    title_value = escape_data(title).replace(":", "%3A").replace(",", "%2C")
    sys.stderr.write(f"::{level} title={title_value}::{escape_data(message)}\n")
    sys.stderr.flush()


def append_step_summary(path: Path | None, markdown: str) -> None:
    """Append to GITHUB_STEP_SUMMARY (each step's file is shown on the run's summary page)."""
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")
    except OSError as exc:
        raise UsageError(f"cannot write the step summary {path}: {exc.strerror or exc}") from exc


def step_summary_report(review: Review, *, env: jinja2.Environment, footer: str = "",
                        full_report: Path | None = None, budget: int | None = None) -> str:
    """The Markdown report for the step summary, `footer` at its end, within `budget` UTF-8 bytes.

    The model's text is capped as in the PR comments; if the report is still too long, the findings'
    bodies are shortened, then left out, and last the report is cut before a heading; a shortened
    report says so, and where the whole one is (`full_report`, the -o file) or how to get it.
    """
    from qwen_review.report import render

    limit = STEP_SUMMARY_BUDGET if budget is None else budget
    tail = f"\n\n{footer.strip()}" if footer.strip() else ""
    for body_limit in _BODY_LIMITS:
        capped, shortened = _capped(review, body_limit)
        note = _shortened_note(full_report, over_limit=body_limit is not None) if shortened else ""
        text = render(capped, "markdown", env=env).rstrip("\n") + note + tail
        if _size(text) <= limit:
            return text
    note = _shortened_note(full_report, over_limit=True)
    report = render(capped, "markdown", env=env)
    return _cut(report, limit - _size(note + tail)).rstrip("\n") + note + tail


def _capped(review: Review, body_limit: int | None) -> tuple[Review, bool]:
    """`review` with the model's text shortened (a copy: the JSON report and -o keep it whole), and whether it was."""
    from qwen_review.pr_state import safe_text
    from qwen_review.pr_summary import TEXT_LIMIT

    limit = TEXT_LIMIT if body_limit is None else body_limit
    findings = [_capped_finding(finding, limit) for finding in review.findings]
    summary = review.summary if len(review.summary) <= TEXT_LIMIT else safe_text(review.summary, TEXT_LIMIT)
    shortened = summary != review.summary or any(a != b for a, b in zip(findings, review.findings, strict=True))
    return dataclasses.replace(review, findings=findings, summary=summary), shortened


def _capped_finding(finding: Finding, limit: int) -> Finding:
    from qwen_review.pr_state import safe_text

    body = finding.body if len(finding.body) <= limit else safe_text(finding.body, limit) if limit else ""
    title = finding.title if len(finding.title) <= _TITLE_LIMIT else finding.title[: _TITLE_LIMIT - 1] + "…"
    # A cut suggestion would be broken code: longer ones are left out, as in the PR comments.
    suggestion = finding.suggestion if finding.suggestion is None or len(finding.suggestion) <= limit else None
    if (body, title, suggestion) == (finding.body, finding.title, finding.suggestion):
        return finding
    return dataclasses.replace(finding, body=body, title=title, suggestion=suggestion)


def _shortened_note(full_report: Path | None, *, over_limit: bool) -> str:
    what = ("This report was shortened to stay under GitHub's 1 MiB limit for a step summary" if over_limit else
            "Long text from the model was cut here, as in the pull request's comments")
    where = (f"the whole report was written to `{full_report}`" if full_report is not None else
             "to keep the whole report, run with `-o FILE` (the action's `extra-args`, e.g. "
             "`-o ${{ runner.temp }}/qwen-review.json`) and upload the file with actions/upload-artifact")
    return f"\n\n> {what}; {where}."


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(markdown: str, budget: int) -> str:
    """The longest run of whole lines within `budget` bytes ending outside a code block, before a heading if one is near."""
    size = offset = line_cut = heading_cut = 0
    fence: str | None = None
    under_heading = False  # the last line with text was a heading: cut before that one (a file's, say)
    for line in markdown.splitlines(keepends=True):
        if fence is None:
            line_cut = offset
            if line.startswith("#") and not under_heading:
                heading_cut = offset
            if line.strip():
                under_heading = line.startswith("#")
        size += _size(line)
        if size > budget:
            break
        offset += len(line)
        if fence is None:
            fence = fence_opened(line)
        elif fence_closes(line, fence):
            fence = None
    else:
        return markdown
    return markdown[: heading_cut if heading_cut > 0 and line_cut - heading_cut < 65_536 else line_cut]


def format_outputs(values: Mapping[str, str]) -> str:
    """`name=value` lines; a value with a line break uses the heredoc form with a delimiter it cannot contain."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}")
        else:
            lines.append(f"{name}={value}")
    return "".join(f"{line}\n" for line in lines)


def write_outputs(path: Path | None, values: Mapping[str, str]) -> None:
    """Append step outputs to GITHUB_OUTPUT."""
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(format_outputs(values))
    except OSError as exc:
        raise UsageError(f"cannot write the step outputs {path}: {exc.strerror or exc}") from exc
