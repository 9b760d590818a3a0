"""The Markdown report: layout, nothing dropped, and model text that cannot ping or hide anything."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jinja2
import pytest

from qwen_review.diff import FileDiff, Hunk
from qwen_review.errors import ConfigError
from qwen_review.prompts import make_environment
from qwen_review.report.markdown import ZWJ, code_span, fence, neutralize, render_markdown
from qwen_review.review import FailedUnit, Finding, ProviderInfo, Request, Review, Stats
from qwen_review.target import Target

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_env(directory: Path = TEMPLATES) -> jinja2.Environment:
    """The environment the CLI renders reports with (`make_environment`), `directory` overriding the defaults."""
    return make_environment(jinja2.FileSystemLoader(directory))


def commonmark(text: str) -> str:
    """The HTML a CommonMark renderer with GitHub's tables makes of `text`."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def sample_target() -> Target:
    return Target(kind="range", spec="A..B", base_commit="a" * 40, head_commit="b" * 40, base_tree=None, head_tree=None)


def sample_files() -> list[FileDiff]:
    """A modified file, an added file whose name has a space, a binary and a deleted file."""
    app = FileDiff(
        path="src/app.py", old_path="src/app.py", status="modified", additions=3, deletions=1,
        hunks=[Hunk(old_start=10, old_lines=4, new_start=10, new_lines=6, section="def handler(request):", body=(
            " def handler(request):",
            "-    data = request.json",
            "+    data = request.get_json()",
            "+    if data is None:",
            "+        return 400",
            "     user = data['user']",
            "     return user",
        ))],
        added_lines=[11, 12, 13], deleted_lines=[11],
    )
    doc = FileDiff(
        path="docs/a b.md", old_path="docs/a b.md", status="added", additions=2,
        hunks=[Hunk(old_start=0, old_lines=0, new_start=1, new_lines=2, section="", body=("+# Title", "+Some text"))],
        added_lines=[1, 2],
    )
    logo = FileDiff(path="assets/logo.png", old_path="assets/logo.png", status="added", binary=True, skipped="binary")
    old = FileDiff(
        path="old.py", old_path="old.py", status="deleted", skipped="deleted", deletions=1,
        hunks=[Hunk(old_start=1, old_lines=1, new_start=0, new_lines=0, section="", body=("-print('bye')",))],
        deleted_lines=[1],
    )
    return [app, doc, logo, old]


def sample_findings() -> list[Finding]:
    return [
        Finding(path="docs/a b.md", line=2, end_line=None, side="RIGHT", severity="info", category="docs",
                title="Say more", body="A sentence could help.", anchored=True, fingerprint="fp-doc"),
        Finding(path="src/app.py", line=11, end_line=13, side="RIGHT", severity="high", category="bug",
                title="Wrong status\ncode", body="Ask @octocat and @org/team.\n<!-- x -->hidden <b>bold</b>",
                suggestion="    data = request.get_json(silent=True)\n    if not data:\n        return 400",
                quote="    data = request.get_json()", anchored=True, fingerprint="fp-status"),
        Finding(path="src/app.py", line=11, end_line=None, side="LEFT", severity="medium", category="compat",
                title="`.json` removed", body="Callers relied on it.", anchored=True, fingerprint="fp-left"),
        Finding(path="src/app.py", line=99, end_line=None, side="RIGHT", severity="low", category="style",
                title="Outside the diff", body="Line 99 is not in a hunk.", fingerprint="fp-out"),
        Finding(path="config.py", line=None, end_line=None, side="RIGHT", severity="critical", category="security",
                title="Secret in diff", body="An API key was redacted.", local=True, fingerprint="fp-secret"),
    ]


def sample_review(**changes: object) -> Review:
    review = Review(
        target=sample_target(),
        provider=ProviderInfo(kind="openai", model="qwen3-coder-plus", base_url="http://127.0.0.1:1/v1"),
        files=sample_files(),
        findings=sample_findings(),
        summary="Mostly fine. cc @octocat <!-- hidden note -->",
        failed_units=[FailedUnit(files=("lib/x.py",), reason="invalid answer twice: missing 'findings'")],
        stats=Stats(files=4, files_reviewed=2, units=2, llm_calls=3, cached_units=1, failed_units=1,
                    prompt_tokens=12345, completion_tokens=678, redactions=1, duration_s=2.345),
    )
    return dataclasses.replace(review, **changes)  # type: ignore[arg-type]


def test_report_groups_findings_by_file_with_counts_and_locations() -> None:
    out = render_markdown(sample_review(), env=template_env())

    assert out.startswith("## qwen-review: `A..B`\n")
    assert "**5 findings**: \U0001f6d1 1 critical · \U0001f534 1 high · \U0001f7e0 1 medium · \U0001f7e1 1 low · \U0001f535 1 info" in out
    assert "### Summary\n\nMostly fine." in out
    # Files in diff order, findings by line inside a file.
    assert out.index("#### `src/app.py`") < out.index("#### `docs/a b.md`") < out.index("### Not pinned to a line")
    assert "##### \U0001f534 high: Wrong status code\n\n`src/app.py:11-13` · bug" in out
    assert "`src/app.py:11` (old side) · compat" in out
    assert "`docs/a b.md:2` · docs" in out
    assert "```suggestion\n    data = request.get_json(silent=True)\n    if not data:\n        return 400\n```" in out


def test_unanchored_findings_skipped_files_failed_units_and_stats_are_listed() -> None:
    out = render_markdown(sample_review(), env=template_env())
    pinned, unpinned = out.split("### Not pinned to a line")

    assert "Outside the diff" in unpinned and "Outside the diff" not in pinned
    assert "`src/app.py:99` · style" in unpinned
    assert "##### \U0001f6d1 critical: Secret in diff\n\n`config.py` · security" in unpinned
    # Highest severity first among the unanchored.
    assert unpinned.index("Secret in diff") < unpinned.index("Outside the diff")
    assert "| `assets/logo.png` | binary |" in out
    assert "| `x\\|y.bin` | too_large |" in render_markdown(sample_review(files=[FileDiff(
        path="x|y.bin", old_path="x|y.bin", status="added", skipped="too_large")]), env=template_env())
    assert "| `old.py` | deleted |" in out
    assert "- `lib/x.py`: invalid answer twice: missing 'findings'" in out
    assert "model `qwen3-coder-plus`" in out
    assert "12,345 prompt + 678 completion tokens" in out
    assert "· 2 units (1 from the cache, 1 failed) · 3 model requests ·" in out
    assert "1 secret redacted" in out
    assert "2.3 s</sub>\n" in out


def test_model_text_cannot_mention_people_or_hide_content() -> None:
    out = render_markdown(sample_review(), env=template_env())

    assert "@octocat" not in out and "@org/team" not in out
    assert f"@{ZWJ}octocat" in out and f"@{ZWJ}org/team" in out
    assert "<!--" not in out
    assert "&lt;!-- x -->hidden &lt;b>bold&lt;/b>" in out
    assert "&lt;!-- hidden note -->" in out


def test_left_side_and_unanchored_suggestions_are_plain_code_blocks() -> None:
    finding = Finding(path="src/app.py", line=11, end_line=None, side="LEFT", severity="low", category="bug",
                      title="Keep it", body="", suggestion="data = request.json", anchored=True)
    out = render_markdown(sample_review(findings=[finding]), env=template_env())

    assert "```\ndata = request.json\n```" in out
    assert "```suggestion" not in out


def test_dry_run_lists_requests_and_estimated_tokens() -> None:
    requests = [Request(files=("src/app.py",), estimated_tokens=1200, messages=()),
                Request(files=("docs/a b.md",), estimated_tokens=300, messages=())]
    review = sample_review(dry_run=True, findings=[], summary="", failed_units=[], requests=requests)
    out = render_markdown(review, env=template_env())

    assert out.startswith("## qwen-review: `A..B` (dry run)\n")
    assert "no model was called; 2 requests (~1,500 estimated prompt tokens) would be sent." in out
    assert "| 1 | `src/app.py` | 1,200 |" in out
    assert "| 2 | `docs/a b.md` | 300 |" in out
    assert "### Findings" not in out and "### Summary" not in out


def test_nothing_to_review_and_no_findings() -> None:
    empty = sample_review(files=[], findings=[], summary="", failed_units=[], stats=Stats())
    assert "\n\nNothing to review.\n" in render_markdown(empty, env=template_env())

    clean = sample_review(findings=[], failed_units=[], stats=Stats(units=2))
    out = render_markdown(clean, env=template_env())
    assert "\n\nNo findings.\n" in out
    assert "Nothing to review" not in out


def test_failed_units_are_in_the_headline_never_no_findings() -> None:
    failed = [FailedUnit(files=("lib/x.py",), reason="HTTP 500"), FailedUnit(files=("lib/y.py",), reason="HTTP 500")]
    nothing = sample_review(findings=[], failed_units=failed[:1], stats=Stats(units=1, failed_units=1))
    part = sample_review(findings=[], failed_units=failed, stats=Stats(units=5, failed_units=2))
    found = sample_review(failed_units=failed, stats=Stats(units=5, failed_units=2))
    outs = [render_markdown(review, env=template_env()) for review in (nothing, part, found)]

    assert "`A..B`\n\n**Not reviewed**: 1 of 1 unit failed.\n\n" in outs[0]
    assert "`A..B`\n\nNo findings in the reviewed part; **2 of 5 units could not be reviewed**.\n\n" in outs[1]
    assert "1 info\n\n**2 of 5 units could not be reviewed.**\n\n### Summary" in outs[2]
    assert not any("No findings." in out for out in outs)
    assert "· 1 unit (1 failed) · 0 model requests ·" in outs[0]


def test_report_renders_in_commonmark_as_written() -> None:
    html = commonmark(render_markdown(sample_review(), env=template_env()))

    assert re.findall(r"<h\d>[^<]*", html) == [
        "<h2>qwen-review: ", "<h3>Summary", "<h3>Findings", "<h4>", "<h5>\U0001f534 high: Wrong status code",
        "<h5>\U0001f7e0 medium: ", "<h4>", "<h5>\U0001f535 info: Say more", "<h3>Not pinned to a line",
        "<h5>\U0001f6d1 critical: Secret in diff", "<h5>\U0001f7e1 low: Outside the diff", "<h3>Skipped files",
        "<h3>Failed units",
    ]
    assert "</h2>\n<p><strong>5 findings</strong>:" in html
    # The location line and the body are separate paragraphs; the suggestion is a code block of its own.
    assert "<p><code>src/app.py:11-13</code> · bug</p>\n<p>Ask @" in html
    assert '</p>\n<pre><code class="language-suggestion">    data = request.get_json(silent=True)' in html
    assert "<p><code>docs/a b.md:2</code> · docs</p>\n<p>A sentence could help.</p>" in html
    assert "<td><code>assets/logo.png</code></td>\n<td>binary</td>" in html
    assert "<li><code>lib/x.py</code>: invalid answer twice: missing 'findings'</li>" in html
    assert "</ul>\n<hr />\n<p><sub>qwen-review " in html


def test_a_one_line_summary_before_the_footer_stays_a_paragraph() -> None:
    clean = sample_review(findings=[], failed_units=[], summary="No issues.", files=sample_files()[:2])
    html = commonmark(render_markdown(clean, env=template_env()))

    assert html.count("<h2>") == 1
    assert "<h3>Summary</h3>\n<p>No issues.</p>\n<hr />\n<p><sub>" in html


def test_dry_run_tables_render_in_commonmark() -> None:
    requests = [Request(files=("src/app.py",), estimated_tokens=1200, messages=())]
    review = sample_review(dry_run=True, findings=[], summary="", failed_units=[], requests=requests)
    html = commonmark(render_markdown(review, env=template_env()))

    assert "<td>1</td>\n<td><code>src/app.py</code></td>\n<td>1,200</td>" in html
    assert html.count("<table>") == 2 and "<hr />" in html


def test_an_unclosed_fence_in_a_body_is_closed_before_the_next_finding() -> None:
    first = Finding(path="src/app.py", line=12, end_line=None, side="RIGHT", severity="low", category="bug",
                    title="First", body="Try:\n```\nx = 1", anchored=True)
    second = dataclasses.replace(first, line=13, title="Second", body="Later.")
    html = commonmark(render_markdown(sample_review(findings=[first, second]), env=template_env()))

    assert "<pre><code>x = 1\n</code></pre>\n<h5>\U0001f7e1 low: Second</h5>" in html


def test_report_has_no_runs_of_blank_lines_outside_code() -> None:
    out = render_markdown(sample_review(), env=template_env())
    assert "\n\n\n" not in out
    assert out.endswith("</sub>\n")


def test_neutralize_leaves_code_alone_and_closes_open_fences() -> None:
    text = "Use `@property` here, ping @alice.\n```python\n@decorator\n<!-- kept -->\n```\nthen <!-- x -->"
    out = neutralize(text)
    assert "`@property`" in out and "@decorator\n<!-- kept -->" in out
    assert f"@{ZWJ}alice" in out and out.endswith("then &lt;!-- x -->")
    assert neutralize("mail me: a@example.com") == "mail me: a@example.com"

    # A code span never crosses lines here, so a paragraph break cannot shelter a mention.
    assert neutralize("`a\n\n@bob `b`") == f"`a\n\n@{ZWJ}bob `b`"
    # Autolinked URLs keep their text (a mention inside a link does not ping).
    assert neutralize("see https://medium.com/@bob/post, @bob") == f"see https://medium.com/@bob/post, @{ZWJ}bob"

    unclosed = neutralize("see:\n~~~~\ncode @x")
    assert unclosed == "see:\n~~~~\ncode @x\n~~~~\n"


def test_fence_and_code_span_cannot_be_broken_out_of() -> None:
    assert fence("a ``` b") == "````\na ``` b\n````"
    assert fence("x", "suggestion") == "```suggestion\nx\n```"
    assert code_span("a`b|c") == "``a`b|c``"
    assert code_span("`x") == "`` `x ``"


def test_template_errors_become_config_errors(tmp_path: Path) -> None:
    (tmp_path / "report.md.j2").write_text("{{ no_such_variable }}\n")
    with pytest.raises(ConfigError, match=r"report\.md\.j2.*no_such_variable"):
        render_markdown(sample_review(), env=template_env(tmp_path))


def test_repository_override_template_is_used(tmp_path: Path) -> None:
    (tmp_path / "report.md.j2").write_text("{{ total }} findings, highest {{ highest }}\n")
    assert render_markdown(sample_review(), env=template_env(tmp_path)) == "5 findings, highest critical\n"


MODEL_MARKDOWN = ("# Big heading\n\nText.\n\n## Overview ##\n> ### Quoted\n- # Listed\n\n# Title\n---\nafter\n\n"
                  "![pixel](https://evil.example/t.png) ![](https://evil.example/u.png) ![ref][r]\n\n"
                  "[r]: https://evil.example/r.png\n\n```python\n# a comment\n![kept](x.png)\n```\n\n    # indented code")


def test_model_headings_become_bold_lines_and_images_become_links() -> None:
    html = commonmark(neutralize(MODEL_MARKDOWN))

    assert re.findall(r"<h\d", html) == [] and "<img" not in html
    for words in ("Big heading", "Overview", "Quoted", "Listed", "Title"):
        assert f"<strong>{words}</strong>" in html
    assert "<p><strong>Title</strong></p>\n<hr />\n<p>after</p>" in html  # the rule under it stays a rule
    assert '<a href="https://evil.example/t.png">pixel</a> <a href="https://evil.example/u.png">image</a> ' \
           '!<a href="https://evil.example/r.png">ref</a>' in html
    assert "<code class=\"language-python\"># a comment\n![kept](x.png)\n</code>" in html  # code is left alone
    assert "<pre><code># indented code\n</code></pre>" in html
    assert neutralize(neutralize(MODEL_MARKDOWN)) == neutralize(MODEL_MARKDOWN)
    assert neutralize("issue #12, #hashtag, \\# and `# code`") == "issue #12, #hashtag, \\# and `# code`"


def test_model_headings_and_images_do_not_reach_the_report() -> None:
    [first, *rest] = sample_findings()
    review = sample_review(summary="## Overview\n\nAll fine.", findings=[dataclasses.replace(first, body=MODEL_MARKDOWN),
                                                                         *rest])
    html = commonmark(render_markdown(review, env=template_env()))

    assert "<img" not in html and "<h1>" not in html
    assert "<h3>Summary</h3>\n<p><strong>Overview</strong></p>" in html
    assert [h for h in re.findall(r"<h\d>([^<]*)", html) if "heading" in h or "Overview" in h] == []
