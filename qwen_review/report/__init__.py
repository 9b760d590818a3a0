"""Report formats: text, json, markdown, sarif. Each is a function of a `Review`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwen_review.review import Review

if TYPE_CHECKING:
    import jinja2


def render(review: Review, fmt: str, *, color: bool = False, env: jinja2.Environment | None = None,
           wrap: bool | None = None) -> str:
    """`env` supplies a repository's Markdown template; the packaged one is used without it.

    `wrap` wraps the text report at a terminal's width; by default it does when `color` is on,
    which is only ever for a terminal: a pipe, a file or a CI log gets every line whole.
    """
    if fmt == "json":
        from qwen_review.report.json_report import render_json

        return render_json(review)
    if fmt == "text":
        from qwen_review.report.text import TERMINAL_WIDTH, render_text

        return render_text(review, color=color, width=TERMINAL_WIDTH if (color if wrap is None else wrap) else None)
    if fmt == "markdown":
        from qwen_review.prompts import make_environment
        from qwen_review.report.markdown import render_markdown

        return render_markdown(review, env=env if env is not None else make_environment())
    if fmt == "sarif":
        from qwen_review.report.sarif import render_sarif

        return render_sarif(review)
    raise ValueError(f"unknown report format {fmt!r}")
