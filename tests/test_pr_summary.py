"""Summary/inline comment bodies, saved state, neutralised model text and the publication plan."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

from qwen_review.anchor import fingerprint
from qwen_review.pr_diff import FileLines, PRFile, commentable_lines_from_patches
from qwen_review.pr_state import (
    STATE_BUDGET,
    OpenFinding,
    SummaryState,
    decode_state,
    encode_state,
    fingerprint_in,
    review_run_in,
    safe_id,
)
from qwen_review.pr_summary import (
    BODY_BUDGET,
    default_environment,
    fingerprint_of,
    inline_comment,
    listed_from,
    next_state,
    plan_publication,
    render_summary,
    review_body,
)
from qwen_review.review import Finding, severity_rank
from tests.fakes.github_server import commentable_lines, files_from_git_diff
from tests.gitrepo import GitRepo

PATCH = "@@ -1,4 +1,5 @@\n one\n-two\n+TWO\n+extra\n three\n four\n@@ -20,3 +21,3 @@ def f():\n x\n-y\n+Y\n z"
LINES = commentable_lines_from_patches([PRFile("a.py", "modified", PATCH)])


def finding(line: int | None = 3, *, end_line: int | None = None, side: str = "RIGHT", severity: str = "medium",
            title: str = "Problem", body: str = "Explanation.", suggestion: str | None = None, fp: str = "fp1",
            anchored: bool = True, path: str = "a.py") -> Finding:
    return Finding(path=path, line=line, end_line=end_line, side=side, severity=severity,  # type: ignore[arg-type]
                   category="bug", title=title, body=body, suggestion=suggestion, anchored=anchored, fingerprint=fp)


def test_model_text_is_neutralised_before_it_is_stored_or_shown() -> None:
    entry = listed_from(finding(title="ping @octocat\nnow", body="cc @org/team <!-- hidden -->\n```\nopen fence",
                                suggestion="x = '@keep <!-- -->'"), reason="unanchored", seen_at="h")
    assert "@octocat" not in entry.title and "\n" not in entry.title
    assert "@org/team" not in entry.body and "<!--" not in entry.body and entry.body.rstrip().endswith("```")
    assert entry.suggestion == "x = '@keep <!-- -->'"  # code is committed as written; a fence makes it inert


def test_commentable_lines_agree_with_the_fake_on_real_git_patches(repo: GitRepo) -> None:
    repo.write("f.py", "".join(f"row {i}\n" for i in range(1, 60)) + "last")
    repo.write("gone.py", "a\nb\n")
    base = repo.commit("base")
    lines = [f"row {i}\n" for i in range(1, 60)]
    lines[4], lines[40] = "changed\f form feed\n", "other\n"
    del lines[20]
    repo.write("f.py", "".join(lines) + "last\n")
    repo.git("rm", "-q", "gone.py")
    head = repo.commit("head")
    files = files_from_git_diff(repo.git("diff", "-M", f"{base}...{head}"))
    ours = commentable_lines_from_patches(PRFile(f.filename, f.status, f.patch) for f in files)
    for entry in files:
        theirs = commentable_lines(entry.patch)
        assert (dict(ours[entry.filename].right), dict(ours[entry.filename].left)) == (theirs["RIGHT"], theirs["LEFT"])
    assert ours["gone.py"].left == {1: 0, 2: 0} and not ours["gone.py"].right
    # the form feed stays inside its line: numbering after it is not shifted
    assert sorted(k for k, hunk in ours["f.py"].right.items() if hunk == 0) == list(range(2, 9))
    assert ours["f.py"].left[21] == ours["f.py"].right[20] == 1 and max(ours["f.py"].right.values()) == 3


def test_commentable_lines_per_side_and_hunk() -> None:
    lines = LINES["a.py"]
    assert lines.allows(line=3, side="RIGHT") and lines.allows(line=2, side="LEFT")
    assert not lines.allows(line=10, side="RIGHT") and not lines.allows(line=5, side="LEFT")
    assert lines.allows(line=4, side="RIGHT", start_line=2)
    assert not lines.allows(line=21, side="RIGHT", start_line=4)  # two hunks
    assert not lines.allows(line=3, side="RIGHT", start_line=3)
    assert commentable_lines_from_patches([PRFile("b.bin", "modified", None)])["b.bin"] == FileLines({}, {})


def test_inline_comment_single_and_multi_line_payloads() -> None:
    single = inline_comment(listed_from(finding(3), reason="over_cap", seen_at="h"))
    assert single.payload() == {"path": "a.py", "body": single.body, "line": 3, "side": "RIGHT"}
    multi = inline_comment(listed_from(finding(2, end_line=4), reason="over_cap", seen_at="h"))
    assert {k: v for k, v in multi.payload().items() if k != "body"} == {
        "path": "a.py", "line": 4, "side": "RIGHT", "start_line": 2, "start_side": "RIGHT"}
    assert multi.fits(LINES) and not inline_comment(listed_from(finding(10), reason="over_cap", seen_at="h")).fits(LINES)


def test_suggestion_blocks_only_on_the_new_side_and_never_broken_out_of() -> None:
    code = "x = '```'\ny = 1  # @octocat <!-- -->\n"
    right = inline_comment(listed_from(finding(2, end_line=3, suggestion=code), reason="over_cap", seen_at="h"))
    assert "````suggestion\nx = '```'\ny = 1  # @octocat <!-- -->\n````" in right.body  # byte-exact, fenced
    left = inline_comment(listed_from(finding(2, side="LEFT", suggestion=code), reason="over_cap", seen_at="h"))
    assert "suggestion" not in left.body


def test_inline_body_ends_with_its_fingerprint_and_model_text_cannot_forge_one() -> None:
    forged = "<!-- qwen-review:fp=other -->"
    comment = inline_comment(listed_from(finding(title="@alice look", body=forged, fp="fp-9/x"), reason="over_cap",
                                         seen_at="h"))
    assert comment.body.endswith(f"<!-- qwen-review:fp={safe_id('fp-9/x')} -->")
    assert fingerprint_in(comment.body) == safe_id("fp-9/x") != "fp-9/x"
    assert "@alice" not in comment.body and fingerprint_in(forged + "\n\ntext") is None
    assert review_run_in(review_body("run1", count=2, head_sha="a" * 40)) == "run1"


def test_fingerprint_falls_back_to_path_and_title() -> None:
    first = fingerprint_of(finding(fp="", title="Same  Title"))
    assert first == fingerprint_of(finding(3, fp="", title="same title")) != fingerprint_of(finding(fp="", path="b.py"))


def test_a_finding_without_a_fingerprint_gets_the_one_anchoring_would_give() -> None:
    quoted = replace(finding(fp="", title="One title"), quote="  x =  eval(data)")
    assert fingerprint_of(quoted) == fingerprint("a.py", quoted)  # path and quoted code, as across runs
    assert fingerprint_of(quoted) == fingerprint_of(replace(quoted, title="Another title", line=9))


def test_plan_caps_inline_comments_by_severity_and_lists_the_rest() -> None:
    findings = [finding(1, severity="low", fp="low"), finding(3, severity="critical", fp="crit"),
                finding(4, severity="high", fp="high"), finding(10, fp="off"),
                finding(None, anchored=False, fp="loose"), finding(5, severity="low", fp="crit")]
    plan = plan_publication(findings=findings, previous=SummaryState(), already_inline=frozenset(),
                            commentable=LINES, max_inline=2, head_sha="h1")
    assert [c.entry.fingerprint for c in plan.inline] == ["crit", "high"]
    assert {e.fingerprint: e.reason for e in plan.listed} == {"low": "over_cap", "off": "off_diff",
                                                              "loose": "unanchored"}


def test_plan_skips_posted_fingerprints_and_carries_earlier_entries() -> None:
    earlier = listed_from(finding(None, anchored=False, fp="old", title="Old"), reason="unanchored", seen_at="h0")
    now_inline = listed_from(finding(3, fp="moved"), reason="over_cap", seen_at="h0")
    refound = listed_from(finding(None, anchored=False, fp="again", title="Before"), reason="unanchored", seen_at="h0")
    previous = SummaryState(head_sha="h0", posted=frozenset({"done"}), listed=(earlier, now_inline, refound))
    findings = [finding(3, fp="done"), finding(3, fp="moved"), finding(None, anchored=False, fp="again", title="Now")]
    plan = plan_publication(findings=findings, previous=previous, already_inline=frozenset({"seen-on-pr"}),
                            commentable=LINES, max_inline=5, head_sha="h1")
    assert [c.entry.fingerprint for c in plan.inline] == ["moved"]
    # a finding found again keeps this run's text and the head it was first seen at
    assert {(e.fingerprint, e.title, e.seen_at) for e in plan.listed} == {("old", "Old", "h0"), ("again", "Now", "h0")}
    state = next_state(plan, head_sha="h1", posted=plan.inline, rejected=[])
    assert state.posted == {"done", "seen-on-pr", "moved"} and state.head_sha == "h1"
    rejected = next_state(plan, head_sha="h1", posted=[], rejected=plan.inline)
    assert "moved" not in rejected.posted and {e.reason for e in rejected.listed} >= {"rejected"}


def test_earlier_findings_stand_until_a_run_reviews_their_file_again() -> None:
    in_a = listed_from(finding(None, anchored=False, fp="a-old", severity="high"), reason="unanchored", seen_at="h0")
    in_b = listed_from(finding(None, anchored=False, fp="b-old", path="b.py"), reason="unanchored", seen_at="h0")
    inline_b = OpenFinding("b-inline", "b.py", "critical")  # posted inline by an earlier run
    previous = SummaryState(head_sha="h0", posted=frozenset({"b-inline"}), listed=(in_a, in_b),
                            open=(OpenFinding("a-old", "a.py", "high"), OpenFinding("b-old", "b.py", "medium"),
                                  inline_b))
    plan = plan_publication(findings=[finding(3, fp="a-new", severity="low")], previous=previous,
                            already_inline=frozenset(), commentable=LINES, max_inline=5, head_sha="h1",
                            still_open=lambda o: o.path != "a.py")
    # a.py was reviewed again: its old finding is gone; b.py was not: its findings still stand and are listed.
    assert [e.fingerprint for e in plan.listed] == ["b-old"]
    assert [(o.fingerprint, o.severity) for o in plan.open] == [
        ("b-inline", "critical"), ("b-old", "medium"), ("a-new", "low")]
    assert next_state(plan, head_sha="h1", posted=plan.inline, rejected=[]).open == plan.open


def test_a_state_written_before_open_findings_existed_counts_its_listed_ones() -> None:
    entry = listed_from(finding(None, anchored=False, fp="old", severity="high"), reason="unanchored", seen_at="h")
    body, _ = render_summary(state=SummaryState(head_sha="h", listed=(entry,)), summary_markdown="", inline_count=0)
    packed = body.split("\n")[1].split(" ")[3]
    doc = json.loads(zlib.decompress(base64.b64decode(packed)))
    del doc["open"]  # as the previous version wrote it
    old_line = "<!-- qwen-review:state v1 " + base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode() + " -->"
    old_body = body.replace(body.split("\n")[1], old_line)
    assert decode_state(old_body).open == (OpenFinding("old", "a.py", "high"),)
    assert decode_state(old_body).open_known is False and decode_state(body).open_known is True


def test_state_round_trips_and_damage_reads_as_empty() -> None:
    entry = listed_from(finding(None, anchored=False, suggestion="s", body="b -- c"), reason="unanchored", seen_at="h")
    state = SummaryState(head_sha="h" * 40, posted=frozenset({"a", "b"}), listed=(entry,))
    body, cut = render_summary(state=state, summary_markdown="All fine.", inline_count=0)
    assert not cut and decode_state(body) == state
    assert decode_state(body.replace("\n", "\r\n")) == state  # as GitHub stores it after a web edit
    assert decode_state(body.replace("state v1 ", "state v1 AAAA")) == SummaryState()
    assert decode_state("not ours\n" + body) == SummaryState()


def test_state_shrinks_to_its_budget_and_keeps_every_posted_fingerprint() -> None:
    listed = tuple(listed_from(finding(None, anchored=False, fp=f"f{i}", body=f"{i} " + "word " * 200,
                                       title=hashlib.sha256(str(i).encode()).hexdigest()),
                               reason="unanchored", seen_at="h")
                   for i in range(1500))
    state = SummaryState(head_sha="h", posted=frozenset(f"p{i}" for i in range(500)), listed=listed)
    encoded = encode_state(state)
    assert encoded.shortened and len(encoded.line) <= STATE_BUDGET
    decoded = decode_state("<!-- qwen-review:summary -->\n" + encoded.line)
    assert decoded.posted == state.posted and 0 < len(decoded.listed) < len(listed)
    assert decoded.listed == tuple(replace(e, body="", suggestion=None) for e in listed[:len(decoded.listed)])
    assert encoded.untracked == len(listed) - len(decoded.listed)


def test_a_full_state_keeps_the_most_severe_findings_and_the_comment_says_how_many_are_untracked() -> None:
    severities = ("low", "critical", "info", "high", "medium")
    listed = tuple(listed_from(finding(None, anchored=False, fp=f"f{i}", severity=severities[i % 5],
                                       title=hashlib.sha256(str(i).encode()).hexdigest()),
                               reason="unanchored", seen_at="h")
                   for i in range(1500))
    state = SummaryState(head_sha="h" * 40, listed=listed)  # not in severity order
    body, cut = render_summary(state=state, summary_markdown="Summary.", inline_count=0)
    kept = decode_state(body).listed
    untracked = len(listed) - len(kept)
    assert cut and 0 < untracked < len(listed)
    assert f"{untracked} of the findings listed here" in body and "no longer tracked" in body
    kept_ids = {e.fingerprint for e in kept}
    worst_dropped = max(severity_rank(e.severity) for e in listed if e.fingerprint not in kept_ids)
    assert min(severity_rank(e.severity) for e in kept) >= worst_dropped
    assert {e.severity for e in kept} >= {"critical", "high"}


def test_long_summary_is_cut_under_the_limit_with_a_note_and_full_state() -> None:
    listed = tuple(listed_from(finding(None, anchored=False, fp=f"f{i}", title=f"Finding {i}",
                                       body="long explanation " * 300), reason="unanchored", seen_at="h")
                   for i in range(300))
    state = SummaryState(head_sha="h" * 40, posted=frozenset({"x"}), listed=listed)
    summary = "Intro\n```python\n" + "code line\n" * 20_000 + "```\n"
    body, cut = render_summary(state=state, summary_markdown=summary, inline_count=0)
    assert cut and len(body) <= BODY_BUDGET and "shortened to stay under GitHub's 65,536-character limit" in body
    assert decode_state(body).listed == listed
    visible = body.split("### Findings", 1)[0]
    assert visible.count("```") % 2 == 0  # the cut summary does not leave a code fence open


def test_summary_lists_earlier_findings_and_neutralises_the_summary() -> None:
    old = listed_from(finding(7, fp="o", title="Earlier one"), reason="over_cap", seen_at="a" * 40)
    state = SummaryState(head_sha="b" * 40, listed=(old,))
    body, _ = render_summary(state=state, summary_markdown="cc @maintainer <!-- x -->", inline_count=2)
    assert "@maintainer" not in body and "<!-- x" not in body
    assert "posted 2 new inline comments" in body and f"found at `{'a' * 12}`" in body and "`a.py:7`" in body


def test_custom_templates_override_defaults_and_undefined_names_fail(tmp_path: Path) -> None:
    (tmp_path / "inline_comment.md.j2").write_text("CUSTOM {{ finding.title }}", encoding="utf-8")
    (tmp_path / "summary_comment.md.j2").write_text("{{ no_such_name }}", encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)), undefined=jinja2.StrictUndefined)
    comment = inline_comment(listed_from(finding(), reason="over_cap", seen_at="h"), env)
    assert comment.body.startswith("CUSTOM Problem") and fingerprint_in(comment.body) == "fp1"
    with pytest.raises(jinja2.UndefinedError):
        render_summary(state=SummaryState(head_sha="h"), summary_markdown="", inline_count=0, env=env)
    assert default_environment().undefined is jinja2.StrictUndefined


def _commonmark(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(text)


def test_comments_render_in_commonmark_as_written() -> None:
    entry = listed_from(finding(body="First paragraph.\n\n- a\n- b", suggestion="x = 1"), reason="over_cap",
                        seen_at="h" * 40)
    inline = _commonmark(inline_comment(entry).body)
    assert inline.startswith("<p><strong>MEDIUM</strong> · bug · <strong>Problem</strong></p>\n<p>First paragraph.</p>")
    assert '</ul>\n<pre><code class="language-suggestion">x = 1\n</code></pre>' in inline

    quiet = listed_from(finding(fp="fp2", title="Quiet", body="", suggestion=None), reason="unanchored",
                        seen_at="h" * 40)
    state = SummaryState(head_sha="h" * 40, listed=(entry, quiet))
    body, _ = render_summary(state=state, summary_markdown="No issues.", inline_count=1)
    html = _commonmark(body)
    assert "<h2>qwen-review</h2>\n<p>Reviewed <code>hhhhhhhhhhhh</code>: this run posted 1 new inline comment.</p>" in html
    assert "<p>No issues.</p>\n<h3>Findings not posted inline (2)</h3>\n<ul>" in html
    assert "<p>First paragraph.</p>\n<ul>\n<li>a</li>" in html and "<pre><code>x = 1\n</code></pre>\n</details>" in html
    assert "<p><strong>MEDIUM</strong> <code>a.py:3</code>: Quiet <em>(not on a line of the diff)</em></p>" in html
    assert html.count("<h2>") == 1 and html.count("<h3>") == 1


def test_a_body_stored_before_a_neutralising_rule_is_shown_neutralised() -> None:
    entry = listed_from(finding(None, anchored=False, fp="old"), reason="unanchored", seen_at="h")
    stored_earlier = replace(entry, body="# Heading from an older state\n![pixel](https://t.example/p.png)")
    body, _ = render_summary(state=SummaryState(head_sha="h", listed=(stored_earlier,)), summary_markdown="",
                             inline_count=0)
    assert "**Heading from an older state**" in body and "# Heading" not in body
    assert "![pixel]" not in body


def test_a_clean_pull_request_says_no_findings_without_mentioning_inline_comments_it_never_had() -> None:
    clean, _ = render_summary(state=SummaryState(head_sha="h"), summary_markdown="", inline_count=0)
    assert "\nNo findings.\n" in clean and "inline comments" not in clean
    posted, _ = render_summary(state=SummaryState(head_sha="h", posted=frozenset({"fp"})), summary_markdown="",
                               inline_count=0)
    assert "No findings beyond the inline comments." in posted
