"""Report formats: text, json, markdown, sarif. Each is a function of a `Review`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwen_review.review import Review

if TYPE_CHECKING:
    import jinja2


def render(review: Review, fmt: str, *, color: bool = False, env: jinja2.Environment | None = None) -> str:
    """`env` supplies a repository's Markdown template; the packaged one is used without it."""
    if fmt == "json":
        from qwen_review.report.json_report import render_json

        return render_json(review)
    if fmt == "text":
        from qwen_review.report.text import render_text

        return render_text(review, color=color)
    if fmt == "markdown":
        from qwen_review.prompts import make_environment
        from qwen_review.report.markdown import render_markdown

        return render_markdown(review, env=env if env is not None else make_environment())
    if fmt == "sarif":
        from qwen_review.report.sarif import render_sarif

        return render_sarif(review)
    raise ValueError(f"unknown report format {fmt!r}")
