"""The Markdown report a person reads in a PR step summary or a file, rendered from `report.md.j2`.

Model text is untrusted Markdown: `neutralize` keeps it from pinging people,
hiding content in HTML comments, or opening a code fence that swallows the rest
of the report. The GitHub publisher reuses `neutralize`, `fence` and `code_span`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwen_review import __version__
from qwen_review.review import SEVERITIES, Finding, Review, Stats, line_span, severity_first, severity_rank

if TYPE_CHECKING:
    import jinja2

TEMPLATE_NAME = "report.md.j2"

BADGES = {"critical": "\U0001f6d1", "high": "\U0001f534", "medium": "\U0001f7e0", "low": "\U0001f7e1", "info": "\U0001f535"}

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
# Literal segments of prose: one-line code spans (a span cut short only over-neutralises) and
# bare URLs (GitHub autolinks them, and a mention inside a link does not ping).
_LITERAL = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)|https?://[A-Za-z0-9][^\s<>()]*")
# `@name` or `@org/team` where GitHub would see a mention: not glued to a word before it.
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9])")
# Any tag, comment, processing instruction or declaration: shown as text, never interpreted.
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
# An ATX heading, also inside a block quote or a list item; four spaces of indent make it code instead.
_HEADING = re.compile(r"^(?P<lead>(?: {0,3}(?:>[ \t]?|(?:[-+*]|\d{1,9}[.)])[ \t]+))* {0,3})#{1,6}(?=[ \t]|$)"
                      r"(?P<text>[^\n]*)$", re.M)
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t\r]*$")
# A line of `=` or `-` right under a line of text, which makes that text a (setext) heading.
_UNDERLINE = re.compile(r"(?<=[^\n])\n(?= {0,3}(?:=+|-+)[ \t\r]*(?:\n|$))")
# `![`, unless a backslash escapes the `!`; `alt` when it is an inline image with plain alt text.
_IMAGE = re.compile(r"(?<!\\)(?P<escapes>(?:\\\\)*)!\[(?:(?P<alt>[^\[\]\n]*)\]\()?")
ZWJ = "\u200d"


def neutralize(text: str) -> str:
    """Make untrusted Markdown safe to embed: no mentions, raw HTML, headings, images or unclosed code fence."""
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        if fence is None:
            fence = fence_opened(line)
            if fence is not None:
                out.append(_neutralize_prose("".join(prose)))
                prose = []
                out.append(line)
            else:
                prose.append(line)
            continue
        out.append(line)
        if fence_closes(line, fence):
            fence = None
    out.append(_neutralize_prose("".join(prose)))
    result = "".join(out)
    if fence is not None:
        # An unterminated fence would turn everything after it in the report into code.
        result += ("" if result.endswith("\n") else "\n") + fence + "\n"
    return result


def fence_opened(line: str) -> str | None:
    """The fence (its run of backticks or tildes) that `line` opens, as CommonMark reads it; None if none."""
    opened = _FENCE_OPEN.match(line.rstrip("\r\n"))
    if opened is None or (opened[1][0] == "`" and "`" in opened[2]):  # a backtick fence's info has no backtick
        return None
    return opened[1]


def fence_closes(line: str, fence: str) -> bool:
    """Whether `line` closes the code block `fence` opened: the same character, at least as many, nothing after."""
    closed = _FENCE_CLOSE.match(line.rstrip("\r\n"))
    return closed is not None and closed[1][0] == fence[0] and len(closed[1]) >= len(fence)


def _neutralize_prose(text: str) -> str:
    """Neutralise prose; code spans and URLs are shown literally by Markdown and stay as they are."""
    # A heading would outrank the headings of the comment or report around it: a bold line instead
    # (and a blank line before an underline, which would make the line above a heading).
    text = _UNDERLINE.sub("\n\n", _HEADING.sub(_bold_line, text))
    pieces: list[str] = []
    last = 0
    for span in _LITERAL.finditer(text):
        pieces.append(_neutralize_plain(text[last : span.start()]))
        pieces.append(span[0])
        last = span.end()
    pieces.append(_neutralize_plain(text[last:]))
    return "".join(pieces)


def _neutralize_plain(text: str) -> str:
    return _IMAGE.sub(_image_as_link, _HTML_START.sub("&lt;", _MENTION.sub("@" + ZWJ, text)))


def _bold_line(heading: re.Match[str]) -> str:
    words = _CLOSING_HASHES.sub("", heading["text"]).strip()
    return f"{heading['lead']}**{words}**" if words else heading["lead"].rstrip()


def _image_as_link(image: re.Match[str]) -> str:
    """An image would be fetched when the comment is shown (a tracking pixel, say): a link to it instead."""
    if image["alt"] is None:  # a reference image, or alt text with brackets: the `!` stays, as text
        return f"{image['escapes']}\\!["
    return f"{image['escapes']}[{image['alt'] if image['alt'].strip() else 'image'}]("


def one_line(text: str) -> str:
    """Neutralised text collapsed to one line, for titles and list items."""
    return neutralize(" ".join(text.split()))


def fence(text: str, info: str = "") -> str:
    """A fenced code block that `text` cannot close early, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marker = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{marker}{info}\n{body}{marker}"


def code_span(text: str) -> str:
    """Inline code holding `text` literally, whatever backticks it contains."""
    flat = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def _cell(path: str) -> str:
    """A path as inline code inside a table row, where a bare `|` would end the cell."""
    return code_span(path).replace("|", "\\|")


@dataclass(frozen=True, slots=True)
class FindingView:
    """One finding with every model-written field already neutralised for the template."""

    severity: str
    badge: str
    category: str
    title: str
    body: str
    location: str
    side: str
    anchored: bool
    fingerprint: str
    suggestion_block: str | None


@dataclass(frozen=True, slots=True)
class FileSection:
    path: str
    findings: tuple[FindingView, ...]


def group_findings(review: Review) -> tuple[list[tuple[str, list[Finding]]], list[Finding]]:
    """Anchored findings per file (diff order, then by line) and the unanchored ones, none dropped."""
    order = {file.path: index for index, file in enumerate(review.files)}
    by_path: dict[str, list[Finding]] = {}
    unanchored: list[Finding] = []
    for finding in review.findings:
        if finding.anchored and finding.line is not None:
            by_path.setdefault(finding.path, []).append(finding)
        else:
            unanchored.append(finding)
    paths = sorted(by_path, key=lambda path: (order.get(path, len(order)), path))
    grouped = [(path, sorted(by_path[path], key=_line_key)) for path in paths]
    unanchored.sort(key=severity_first)
    return grouped, unanchored


def _line_key(finding: Finding) -> tuple[int, int]:
    return finding.line or 0, -severity_rank(finding.severity)


def nothing_to_review(review: Review) -> bool:
    """True when no file was (or, in a dry run, would be) sent and nothing was found or failed."""
    return not (review.findings or review.failed_units or review.requests or any(f.reviewable for f in review.files))


def unit_coverage(review: Review) -> tuple[int, int]:
    """(units that got no valid answer, all units): when the first is not 0, part of the change went unreviewed."""
    failed = max(review.stats.failed_units, len(review.failed_units))
    return failed, max(review.stats.units, failed)


def stats_line(stats: Stats, *, dry_run: bool = False) -> str:
    """The counts every report ends with; `llm_calls` counts the HTTP requests sent, retries included."""
    units = [f"{stats.cached_units} from the cache"] if stats.cached_units else []
    units += [f"{stats.failed_units} failed"] if stats.failed_units else []
    parts = [
        f"{stats.files} file{'' if stats.files == 1 else 's'} "
        f"({stats.files_reviewed} {'to review' if dry_run else 'reviewed'})",
        f"{stats.units} unit{'' if stats.units == 1 else 's'}" + (f" ({', '.join(units)})" if units else ""),
        f"{stats.llm_calls} model request{'' if stats.llm_calls == 1 else 's'}",
        f"{stats.prompt_tokens:,} prompt + {stats.completion_tokens:,} completion tokens",
    ]
    if stats.redactions:
        parts.append(f"{stats.redactions} secret{'' if stats.redactions == 1 else 's'} redacted")
    parts.append(f"{stats.duration_s:.1f} s")
    return " · ".join(parts)


def location(finding: Finding) -> str:
    """`path:12`, `path:12-14`, or just `path` when there is no line."""
    span = line_span(finding.line, finding.end_line)
    return finding.path if span is None else f"{finding.path}:{span}"


def _view(finding: Finding) -> FindingView:
    block = None
    if finding.suggestion is not None:
        # A ```suggestion block only means "replace these lines" on anchored new-side lines.
        info = "suggestion" if finding.anchored and finding.side == "RIGHT" else ""
        block = fence(finding.suggestion, info)
    return FindingView(
        severity=finding.severity,
        badge=BADGES.get(finding.severity, ""),
        category=one_line(finding.category),
        title=one_line(finding.title),
        body=neutralize(finding.body.strip()).rstrip("\n"),  # the template adds the line breaks
        location=code_span(location(finding)),
        side=finding.side,
        anchored=finding.anchored,
        fingerprint=finding.fingerprint,
        suggestion_block=block,
    )


def context(review: Review) -> dict[str, object]:
    """Everything `report.md.j2` may use (documented at the top of the template)."""
    grouped, unanchored = group_findings(review)
    failed_units, units = unit_coverage(review)
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in review.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return {
        "tool": {"name": "qwen-review", "version": __version__},
        "target": review.target,
        "target_spec": code_span(review.target.spec or review.target.kind),
        "provider": review.provider,
        "model": code_span(review.provider.model) if review.provider.model else None,
        "dry_run": review.dry_run,
        "nothing_to_review": nothing_to_review(review),
        "total": len(review.findings),
        "units_failed": failed_units,
        "units_total": units,
        "highest": review.highest_severity(),
        "counts": [
            {"severity": s, "badge": BADGES[s], "count": counts[s]} for s in reversed(SEVERITIES) if counts[s]
        ],
        "summary": neutralize(review.summary.strip()).rstrip("\n"),
        "files": [FileSection(code_span(path), tuple(_view(f) for f in found)) for path, found in grouped],
        "unanchored": [_view(f) for f in unanchored],
        "skipped": [{"path": _cell(f.path), "reason": f.skipped} for f in review.files if f.skipped],
        "failed_units": [
            {"files": ", ".join(code_span(p) for p in unit.files), "reason": one_line(unit.reason)}
            for unit in review.failed_units
        ],
        "requests": [
            {"files": ", ".join(_cell(p) for p in r.files), "estimated_tokens": r.estimated_tokens}
            for r in review.requests
        ],
        "estimated_tokens": sum(r.estimated_tokens for r in review.requests),
        "stats": review.stats,
        "stats_line": stats_line(review.stats, dry_run=review.dry_run),
    }


def render_markdown(review: Review, *, env: jinja2.Environment) -> str:
    """Render the review with `report.md.j2` from `env` (the packaged one or a repository's override)."""
    from qwen_review.prompts import render_template

    return render_template(env, TEMPLATE_NAME, **context(review))
