"""The JSON report's encoding: one line, the same document either encoder writes, nothing lost."""

from __future__ import annotations

import dataclasses
import json

from qwen_review.report.json_report import SCHEMA, render_json, report_dict
from tests.test_report_markdown import sample_review


def test_report_is_one_line_of_json_holding_the_whole_document() -> None:
    review = sample_review()
    text = render_json(review)

    assert text.endswith("}\n") and text.count("\n") == 1
    document = json.loads(text)
    assert document == json.loads(json.dumps(report_dict(review)))
    assert document["schema"] == SCHEMA
    assert "a · b" in render_json(sample_review(summary="a · b"))  # UTF-8, not \u escapes


def test_a_lone_surrogate_from_a_model_answer_stays_an_escape() -> None:
    # json.loads turns a model's "\ud800" escape into a lone surrogate, which UTF-8 cannot hold.
    review = sample_review()
    finding = dataclasses.replace(review.findings[0], body="bad \ud800 char")
    text = render_json(dataclasses.replace(review, findings=[finding, *review.findings[1:]]))

    text.encode("utf-8")  # writable to a file or a pipe
    assert "\\ud800" in text
    assert json.loads(text)["findings"][0]["body"] == "bad \ud800 char"
