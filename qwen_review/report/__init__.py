"""Report formats: text, json, markdown, sarif. Each is a function of a `Review`."""

from __future__ import annotations

from qwen_review.review import Review


def render(review: Review, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        from qwen_review.report.json_report import render_json

        return render_json(review)
    if fmt == "text":
        from qwen_review.report.text import render_text

        return render_text(review, color=color)
    raise ValueError(f"unknown report format {fmt!r}")
