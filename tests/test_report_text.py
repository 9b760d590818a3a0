"""The terminal report: grouped by file, the cited code shown, plain without colour, safe for a terminal."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest

from qwen_review.diff import FileDiff, Hunk
from qwen_review.report import render
from qwen_review.report.text import excerpt, printable, render_text
from qwen_review.review import FailedUnit, Finding, Request, Review, Stats
from tests.clirun import run_cli
from tests.fakes.model_server import ModelServer, error_reply
from tests.gitrepo import GitRepo
from tests.test_report_markdown import sample_files, sample_findings, sample_review

GATEWAY = ("HTTP 502: <html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
           "</center><hr><center>nginx</center></body></html>")

ANSI = re.compile(r"\x1b\[")


def test_plain_output_groups_by_file_and_shows_the_cited_new_side_lines() -> None:
    out = render_text(sample_review(), color=False)

    assert not ANSI.search(out)
    assert out.startswith("qwen-review A..B (range) · model qwen3-coder-plus\n")
    assert "5 findings: 1 critical, 1 high, 1 medium, 1 low, 1 info" in out
    assert out.index("\nsrc/app.py\n") < out.index("\ndocs/a b.md\n") < out.index("\nNot pinned to a line\n")
    assert "  HIGH      11-13  bug  Wrong status code\n" in out
    assert (
        "      11 +     data = request.get_json()\n"
        "      12 +     if data is None:\n"
        "      13 +         return 400\n"
    ) in out
    assert "    suggestion:\n          data = request.get_json(silent=True)\n" in out


def test_left_side_findings_show_the_old_side_line() -> None:
    out = render_text(sample_review(), color=False)

    assert "  MEDIUM    11 (old)  compat  `.json` removed\n    Callers relied on it.\n      11 -     data = request.json\n" in out


def test_unanchored_skipped_failed_and_stats_are_listed() -> None:
    out = render_text(sample_review(), color=False, width=200)
    unpinned = out.split("Not pinned to a line")[1]

    assert "  CRITICAL  config.py  security  Secret in diff\n    An API key was redacted.\n" in unpinned
    assert "  LOW       src/app.py:99  style  Outside the diff\n" in unpinned
    assert "Skipped\n  assets/logo.png  binary\n  old.py           deleted\n" in out
    assert "Failed units (not reviewed)\n  lib/x.py: invalid answer twice: missing 'findings'\n" in out
    assert out.rstrip().endswith(
        "4 files (2 reviewed) · 2 units (1 from the cache, 1 failed) · 3 model requests"
        " · 12,345 prompt + 678 completion tokens · 1 secret redacted · 2.3 s"
    )
    assert not any(line.endswith(" ") for line in out.splitlines())


def test_colour_output_styles_severities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    out = render_text(sample_review(), color=True)

    assert "\x1b[1;31mHIGH" in out  # bold red
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "11 +     data = request.get_json()" in plain


def test_model_text_cannot_drive_the_terminal_or_inject_markup() -> None:
    finding = Finding(path="src/app.py", line=12, end_line=None, side="RIGHT", severity="low", category="x",
                      title="[bold red]fake[/] \x1b[2J", body="evil \x1b]8;;http://x\x07link \u202eabc :smile:",
                      anchored=True)
    out = render_text(sample_review(findings=[finding], summary="\x9b31m"), color=False)

    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    assert "[bold red]fake[/] \\x1b[2J" in out
    assert "evil \\x1b]8;;http://x\\x07link \\u202eabc :smile:" in out
    assert "\\x9b31m" in out


def test_long_excerpts_are_cut() -> None:
    body = tuple(f"+line {n}" for n in range(1, 21))
    file = FileDiff(path="big.py", old_path="big.py", status="added", additions=20,
                    hunks=[Hunk(0, 0, 1, 20, "", body)], added_lines=list(range(1, 21)))
    finding = Finding(path="big.py", line=2, end_line=19, side="RIGHT", severity="info", category="c",
                      title="t", body="b", anchored=True)
    out = render_text(sample_review(files=[file], findings=[finding]), color=False)

    assert " 9 + line 9\n" in out and "line 10" not in out
    assert "... 10 more lines" in out


def test_excerpt_picks_the_cited_side() -> None:
    app = sample_files()[0]
    right = Finding(path="src/app.py", line=11, end_line=14, side="RIGHT", severity="low", category="c",
                    title="t", body="b")
    left = Finding(path="src/app.py", line=10, end_line=11, side="LEFT", severity="low", category="c",
                   title="t", body="b")
    assert [(x.new_lineno, x.text) for x in excerpt(app, right)] == [
        (11, "    data = request.get_json()"), (12, "    if data is None:"), (13, "        return 400"),
        (14, "    user = data['user']"),
    ]
    assert [(x.old_lineno, x.origin) for x in excerpt(app, left)] == [(10, " "), (11, "-")]


def test_dry_run_shows_a_file_table_and_requests() -> None:
    requests = [Request(files=("src/app.py",), estimated_tokens=1200, messages=()),
                Request(files=("docs/a b.md",), estimated_tokens=300, messages=())]
    review = sample_review(dry_run=True, findings=[], summary="", failed_units=[], requests=requests)
    out = render_text(review, color=False)

    assert "Dry run: no model was called." in out
    assert re.search(r"File\s+Status\s+\+/-\s+Hunks\s+Skipped", out)
    assert re.search(r"src/app\.py\s+modified\s+\+3/-1\s+1\n", out)
    assert re.search(r"assets/logo\.png\s+added\s+\+0/-0\s+0\s+binary\n", out)
    assert re.search(r"old\.py\s+deleted\s+\+0/-1\s+1\s+deleted\n", out)
    assert "2 requests (one per unit) would be sent, ~1,500 estimated prompt tokens" in out
    assert "  1. src/app.py (~1,200 tokens)" in out
    assert "\nSkipped\n" not in out  # the table already gives each reason
    assert "4 files (2 to review)" in out and "reviewed)" not in out  # nothing was reviewed yet


def test_nothing_to_review() -> None:
    out = render_text(sample_review(files=[], findings=[], summary="", failed_units=[], stats=Stats()), color=False)
    assert out == "qwen-review A..B (range) · model qwen3-coder-plus\nNothing to review.\n"


def test_no_findings_is_said() -> None:
    out = render_text(sample_review(findings=[], failed_units=[], stats=Stats(units=2)), color=False)
    assert "\nNo findings.\n" in out
    assert "Not pinned" not in out


def test_failed_units_are_in_the_headline_never_no_findings() -> None:
    failed = [FailedUnit(files=("lib/x.py",), reason="HTTP 500"), FailedUnit(files=("lib/y.py",), reason="HTTP 500")]
    nothing = render_text(sample_review(findings=[], failed_units=failed[:1], stats=Stats(units=1, failed_units=1)),
                          color=False)
    part = render_text(sample_review(findings=[], failed_units=failed, stats=Stats(units=5, failed_units=2)),
                       color=False)
    found = render_text(sample_review(failed_units=failed, stats=Stats(units=5, failed_units=2)), color=False)
    only_local = render_text(sample_review(findings=sample_findings()[-1:], failed_units=failed[:1],
                                           stats=Stats(units=1, failed_units=1)), color=False)

    assert nothing.splitlines()[1] == "Not reviewed: 1 of 1 unit failed."
    assert part.splitlines()[1] == "No findings in the reviewed part; 2 of 5 units could not be reviewed."
    assert found.splitlines()[1:3] == ["5 findings: 1 critical, 1 high, 1 medium, 1 low, 1 info",
                                       "2 of 5 units could not be reviewed."]
    assert only_local.splitlines()[1:3] == ["1 finding: 1 critical", "Not reviewed: 1 of 1 unit failed."]
    assert not any("No findings." in out for out in (nothing, part, found, only_local))
    assert "1 unit (1 failed) · 0 model requests ·" in nothing


def test_printable_escapes_controls_but_keeps_text() -> None:
    assert printable("a\tb\nc é 中") == "a\tb\nc é 中"
    assert printable("\x00\x1b\x7f\u2066") == "\\x00\\x1b\\x7f\\u2066"


def long_lines_review() -> Review:
    finding = Finding(path="src/app.py", line=11, end_line=None, side="RIGHT", severity="low", category="style",
                      title="Title", body="word " * 40 + "end of the body.", anchored=True)
    return sample_review(findings=[finding], summary="The summary " * 12 + "ends here.",
                         failed_units=[FailedUnit(files=("lib/x.py",), reason=GATEWAY)])


def test_without_a_width_no_line_is_broken() -> None:
    out = render_text(long_lines_review(), color=False)

    assert f"\n  lib/x.py: {GATEWAY}\n" in out
    assert "\n    " + "word " * 40 + "end of the body.\n" in out  # indented, and whole
    assert "\n  " + "The summary " * 12 + "ends here.\n" in out
    assert "\n4 files (2 reviewed) · 2 units (1 from the cache, 1 failed) · 3 model requests · 12,345 prompt" in out


def test_a_terminal_width_wraps_under_the_indent() -> None:
    out = render_text(long_lines_review(), color=False, width=100)

    assert GATEWAY not in out and "502 Bad\nGateway</h1>" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    body = [line for line in out.splitlines() if "word word" in line]
    assert len(body) > 1 and all(line.startswith("    word") for line in body)


def test_only_a_colour_terminal_report_is_wrapped_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert GATEWAY in render(long_lines_review(), "text")
    assert GATEWAY not in re.sub(r"\x1b\[[0-9;]*m", "", render(long_lines_review(), "text", color=True))
    assert GATEWAY not in render(long_lines_review(), "text", wrap=True)


def test_a_piped_report_keeps_an_error_message_on_one_line(repo: GitRepo, model_server: ModelServer,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("a.py", "x = 1\n")
    repo.commit("base")
    repo.write("a.py", "x = 2\n")
    repo.commit("change")
    message = "upstream said: " + "the gateway timed out again " * 6 + "(end)"
    model_server.fallback = error_reply(400, message)
    env = {"OPENAI_API_KEY": "sk-test-key-for-the-fake-server", "OPENAI_BASE_URL": model_server.base_url,
           "OPENAI_MODEL": "qwen-test"}
    result = run_cli(repo.path, "HEAD~1", "--no-cache", capsys=capsys, env=env)  # stdout is captured: a pipe

    assert result.code == 3
    failed = result.out.split("Failed units (not reviewed)\n", 1)[1].splitlines()[0]
    assert failed.startswith("  a.py: ") and "(end)" in failed and len(failed) > 200


def test_a_terminal_gets_wrapped_lines_even_without_colour_and_a_pipe_gets_whole_ones(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from qwen_review import engine

    long_body = "word " * 60  # 300 characters on one line
    review = sample_review()
    review = dataclasses.replace(review, findings=[dataclasses.replace(review.findings[0], body=long_body)])
    monkeypatch.setenv("NO_COLOR", "1")
    for terminal in (True, False):
        monkeypatch.setattr(sys.stdout, "isatty", lambda terminal=terminal: terminal)
        engine.deliver(review, None, fmt="text", output_path=None)
        widest = max(len(line) for line in capsys.readouterr().out.splitlines())
        assert (widest <= 100) if terminal else (widest >= 300)
