"""Model answers: extraction, validation, anchoring to commentable lines, duplicates, fingerprints."""

from __future__ import annotations

import json

import pytest

from qwen_review.anchor import anchor_findings, fingerprint
from qwen_review.diff import FileDiff, Hunk
from qwen_review.parse import AnswerError, parse_answer, to_findings
from qwen_review.review import Finding

VALID = '{"summary": "ok", "findings": [{"path": "a.py", "line": 3, "severity": "HIGH", "title": "t"}]}'


@pytest.mark.parametrize("text", [
    VALID,
    f"```json\n{VALID}\n```",
    f"Here is my review:\n```\n{VALID}\n```\nThanks",
    f"Sure! {VALID} Hope it helps.",
    f"<think>\nThe diff adds {{a}} and removes {{b}}; line 3 looks wrong.\n</think>\n\n{VALID}",
    f"Checked {{the}} braces first. {VALID} Also see {{this}}.",
    f'{{"note": "a stray object"}} then the answer: {VALID}',
])
def test_raw_fenced_and_embedded_json_are_accepted(text: str) -> None:
    answer = parse_answer(text)
    assert answer.summary == "ok"
    assert answer.findings[0].severity == "high"
    assert answer.findings[0].side == "RIGHT"


@pytest.mark.parametrize(("text", "message"), [
    ("I found no problems.", "not a JSON object"),
    ('{"findings": [{"path": "a.py", "line": "three", "title": "t"}]}', "findings.0.line"),
    ('{"findings": [{"path": "a.py", "line": 2}]}', "findings.0.title"),
    ('{"findings": [{"path": "a.py", "title": "t", "severity": "apocalyptic"}]}', "findings.0.severity"),
    ('{"findings": [{"path": "a.py", "title": "t"}, "a finding"]}', "findings.1"),
    ('{"summary": "ok", "findings": {"path": "a.py", "title": "t"}}', "findings: must be a list"),
    ('"just a string"', "JSON object"),
])
def test_invalid_answers_explain_the_problem(text: str, message: str) -> None:
    with pytest.raises(AnswerError, match=message.replace(".", r"\.")):
        parse_answer(text)


def test_lenient_values_are_normalised() -> None:
    answer = parse_answer('{"findings": [{"path": "a.py", "line": "7", "side": "left", '
                          '"severity": "warning", "category": "Bug", "title": " x "}]}')
    (finding,) = to_findings(answer)
    assert (finding.line, finding.side, finding.severity, finding.category, finding.title) == (
        7, "LEFT", "medium", "bug", "x")


def test_common_deviations_are_accepted_with_defaults() -> None:
    answer = parse_answer(json.dumps({"summary": None, "findings": [
        {"path": "a.py", "line": 0, "end_line": None, "title": "zero line", "body": None, "category": None,
         "quote": None, "suggestion": None},
        {"path": "a.py", "line": -4, "end_line": 0, "title": "T" * 500},
        {"path": "a.py", "line": 9, "end_line": 3, "title": "backwards range"},
        {"path": "a.py", "line": "12", "end_line": "14", "title": "range"},
    ]}))
    assert answer.summary == ""
    first, second, third, fourth = to_findings(answer)
    assert (first.line, first.end_line, first.body, first.category, first.quote, first.suggestion) == (
        None, None, "", "general", None, None)
    assert (second.line, second.end_line) == (None, None)  # file-level
    assert 0 < len(second.title) <= 300 and second.title.startswith("TTT")
    assert (third.line, third.end_line) == (9, None)
    assert (fourth.line, fourth.end_line) == (12, 14)
    assert answer.dropped == 0
    assert parse_answer('{"summary": "s", "findings": null}').findings == []


BAD_AND_GOOD = json.dumps({"summary": "two good", "findings": [
    {"path": "a.py", "line": 3, "title": "good one"},
    {"path": "a.py", "title": "t", "severity": "apocalyptic"},
    {"path": "", "title": "no path"},
    {"path": "b.py", "line": 5, "title": "good two"},
    "not an object",
]})


def test_first_attempt_rejects_any_invalid_finding_and_repair_keeps_the_valid_ones() -> None:
    with pytest.raises(AnswerError, match=r"findings\.1\.severity.*findings\.2\.path.*findings\.4"):
        parse_answer(BAD_AND_GOOD)
    answer = parse_answer(BAD_AND_GOOD, keep_valid=True)
    assert [f.title for f in to_findings(answer)] == ["good one", "good two"]
    assert answer.summary == "two good"
    assert answer.dropped == 3
    assert "findings.1.severity" in answer.dropped_reason
    assert "findings.4" in answer.dropped_reason
    with pytest.raises(AnswerError, match="must be a list"):  # not a finding problem: nothing to keep
        parse_answer('{"findings": "none"}', keep_valid=True)
    with pytest.raises(AnswerError, match=r"findings\.0\.line"):  # no valid finding left: the unit fails
        parse_answer('{"findings": [{"path": "a.py", "line": "three", "title": "t"}]}', keep_valid=True)


def _file() -> FileDiff:
    # new lines: 10 ctx "def f():", 11 "+    x = 1", 12 "+    return x", 13 ctx "", second hunk at 40
    hunk1 = Hunk(10, 3, 10, 4, "", (" def f():", "-    return 0", "+    x = 1", "+    return x", " "))
    hunk2 = Hunk(40, 2, 41, 2, "", (" y = 2", "-z = 3", "+z = 4"))
    return FileDiff(path="src/a.py", old_path="src/a.py", status="modified", hunks=[hunk1, hunk2],
                    added_lines=[11, 12, 42], deleted_lines=[11, 41])


def _finding(**kw: object) -> Finding:
    base: dict[str, object] = {"path": "src/a.py", "line": 11, "end_line": None, "side": "RIGHT",
                               "severity": "high", "category": "bug", "title": "Bug", "body": "b"}
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def test_anchored_on_commentable_lines_of_each_side() -> None:
    right, left, ctx = anchor_findings([
        _finding(line=12, title="r"), _finding(line=11, side="LEFT", title="l"), _finding(line=10, title="c"),
    ], [_file()])
    assert (right.anchored, right.line) == (True, 12)
    assert (left.anchored, left.side, left.line) == (True, "LEFT", 11)
    assert (ctx.anchored, ctx.line) == (True, 10)


def test_lines_outside_the_diff_and_unknown_paths_are_kept_unanchored() -> None:
    findings = anchor_findings([_finding(line=30, title="outside"), _finding(path="nope.py", title="elsewhere"),
                                _finding(line=None, title="file level")], [_file()])
    assert len(findings) == 3
    assert [f.anchored for f in findings] == [False, False, False]


def test_quote_corrects_an_off_by_n_line() -> None:
    (finding,) = anchor_findings([_finding(line=14, quote="return x")], [_file()])
    assert (finding.anchored, finding.line) == (True, 12)
    (finding,) = anchor_findings([_finding(line=3, quote="z = 4", end_line=None)], [_file()])
    assert (finding.anchored, finding.line) == (True, 42)
    (finding,) = anchor_findings([_finding(line=11, quote="code that is not there")], [_file()])
    assert finding.anchored is False


def test_quote_moves_to_the_nearest_match_and_range_stays_in_one_hunk() -> None:
    (finding,) = anchor_findings([_finding(line=10, end_line=12)], [_file()])
    assert (finding.line, finding.end_line) == (10, 12)
    (finding,) = anchor_findings([_finding(line=12, end_line=42)], [_file()])
    assert (finding.line, finding.end_line, finding.anchored) == (12, None, True)
    (finding,) = anchor_findings([_finding(line=40, side="LEFT", quote="-z = 3")], [_file()])
    assert (finding.line, finding.side) == (41, "LEFT")


def test_paths_as_models_write_them() -> None:
    for raw in ("b/src/a.py", "./src/a.py", "a.py", "`src/a.py`"):
        (finding,) = anchor_findings([_finding(path=raw)], [_file()])
        assert (finding.path, finding.anchored) == ("src/a.py", True), raw


def test_duplicates_merge_keeping_the_highest_severity() -> None:
    findings = anchor_findings([
        _finding(title="Null  deref", severity="low"), _finding(title="null deref", severity="critical"),
        _finding(title="other"),
    ], [_file()])
    assert [(f.title, f.severity) for f in findings] == [("null deref", "critical"), ("other", "high")]


def test_fingerprints_ignore_line_numbers_and_never_collide_within_a_run() -> None:
    a = Finding("src/a.py", 11, None, "RIGHT", "high", "bug", "T", "b", quote="x = 1")
    b = Finding("src/a.py", 99, None, "RIGHT", "low", "bug", "Other title", "b", quote="  x  =  1 ")
    assert fingerprint("src/a.py", a) == fingerprint("src/a.py", b)
    assert fingerprint("src/a.py", a) != fingerprint("src/b.py", a)
    first, second = anchor_findings([_finding(quote="x = 1", title="one"), _finding(quote="x = 1", title="two")],
                                    [_file()])
    assert first.fingerprint != second.fingerprint
    again = anchor_findings([_finding(quote="x = 1", title="one", line=12)], [_file()])
    assert again[0].fingerprint == first.fingerprint
    # The model may list the same two findings in the other order next time: the ids stay.
    swapped = anchor_findings([_finding(quote="x = 1", title="two"), _finding(quote="x = 1", title="one")],
                              [_file()])
    assert {f.title: f.fingerprint for f in swapped} == {"one": first.fingerprint, "two": second.fingerprint}
