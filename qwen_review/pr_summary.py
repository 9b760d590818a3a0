"""What qwen-review writes on a pull request, as pure data: the plan and the comment bodies.

The plan splits a run's findings into new inline comments and entries the summary comment lists,
keeping what earlier runs listed; the hidden markers and state the comments carry are
`pr_state`'s. Model text is neutralised before it reaches a comment (`report.markdown.neutralize`):
it cannot ping people, hide text in HTML, or open a code fence that swallows the rest of the comment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from qwen_review.anchor import fingerprint, normalise
from qwen_review.pr_diff import FileLines
from qwen_review.pr_state import (
    SUMMARY_MARKER,
    ListedFinding,
    OpenFinding,
    SummaryState,
    encode_state,
    fingerprint_marker,
    review_marker,
    safe_id,
    safe_text,
)
from qwen_review.report.markdown import code_span, fence, neutralize
from qwen_review.review import Finding, line_span, severity_rank

if TYPE_CHECKING:
    import jinja2

BODY_BUDGET = 65_000  # GitHub refuses bodies over 65,536 characters; keep a margin
TEXT_LIMIT = 20_000  # a finding's body or suggestion; longer suggestions are dropped, not cut
OPEN_LIMIT = 300  # open findings kept in the hidden state, most severe first
QUOTE_LIMIT = 200  # characters of an open finding's quote kept: enough to find the code again

Reason = Literal["unanchored", "off_diff", "over_cap", "rejected"]
REASONS: dict[str, str] = {
    "unanchored": "not on a line of the diff",
    "off_diff": "outside the lines GitHub shows for this pull request",
    "over_cap": "over the inline comment limit",
    "rejected": "GitHub could not place it on the diff",
}


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return neutralize(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def fingerprint_of(finding: Finding) -> str:
    """The finding's id on the pull request; one that has none gets anchoring's (path and quote, or title)."""
    return safe_id(finding.fingerprint or fingerprint(finding.path, finding))


# --- findings as the PR shows them ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InlineComment:
    """One review comment; `entry` is what the summary lists if GitHub refuses the comment."""

    entry: ListedFinding
    path: str
    line: int
    side: str
    start_line: int | None
    body: str

    def payload(self) -> dict[str, str | int]:
        """The comment object of `POST pulls/{n}/reviews` (line/side, start_line/start_side when multi-line)."""
        data: dict[str, str | int] = {"path": self.path, "body": self.body, "line": self.line, "side": self.side}
        if self.start_line is not None:
            data["start_line"], data["start_side"] = self.start_line, self.side
        return data

    def fits(self, commentable: Mapping[str, FileLines]) -> bool:
        lines = commentable.get(self.path)
        return lines is not None and lines.allows(line=self.line, side=self.side, start_line=self.start_line)


@dataclass(frozen=True, slots=True)
class PublishPlan:
    inline: tuple[InlineComment, ...]
    listed: tuple[ListedFinding, ...]
    posted: frozenset[str]
    open: tuple[OpenFinding, ...] = ()


def listed_from(finding: Finding, *, reason: Reason, seen_at: str) -> ListedFinding:
    suggestion = finding.suggestion
    if suggestion is not None and len(suggestion) > TEXT_LIMIT:
        suggestion = None  # a cut suggestion would commit broken code
    return ListedFinding(
        fingerprint=fingerprint_of(finding), path=finding.path, line=finding.line, end_line=finding.end_line,
        side=finding.side, severity=finding.severity, category=_one_line(finding.category, 60),
        title=_one_line(finding.title, 300), body=safe_text(finding.body, TEXT_LIMIT),
        suggestion=suggestion, reason=reason, seen_at=seen_at)


def _sorted(entries: Iterable[ListedFinding]) -> tuple[ListedFinding, ...]:
    return tuple(sorted(entries, key=lambda e: (-severity_rank(e.severity), e.path, e.line or 0, e.title)))


def plan_publication(*, findings: Sequence[Finding], previous: SummaryState, already_inline: Set[str],
                     commentable: Mapping[str, FileLines], max_inline: int, head_sha: str,
                     env: jinja2.Environment | None = None,
                     still_open: Callable[[OpenFinding], bool] = lambda _: True) -> PublishPlan:
    """Split this run's findings into new inline comments and summary entries; keep earlier entries.

    An earlier finding (listed, or counted as open) is kept while `still_open` says it stands
    (the caller knows what this run reviewed again and what the code looks like now).
    """
    posted = frozenset(previous.posted | already_inline)
    first_seen = {e.fingerprint: e.seen_at for e in previous.listed}
    seen: set[str] = set()
    inline: list[InlineComment] = []
    listed: list[ListedFinding] = []
    for finding in sorted(findings, key=lambda f: -severity_rank(f.severity)):
        fingerprint = fingerprint_of(finding)
        if fingerprint in posted or fingerprint in seen:
            continue
        seen.add(fingerprint)
        seen_at = first_seen.get(fingerprint, head_sha)
        if not finding.anchored or finding.line is None:
            listed.append(listed_from(finding, reason="unanchored", seen_at=seen_at))
            continue
        comment = inline_comment(listed_from(finding, reason="over_cap", seen_at=seen_at), env)
        if not comment.fits(commentable):
            listed.append(replace(comment.entry, reason="off_diff"))
        elif len(inline) < max_inline:
            inline.append(comment)
        else:
            listed.append(comment.entry)
    earlier = {o.fingerprint: o for o in previous.open}
    carried = (e for e in previous.listed if e.fingerprint not in posted and e.fingerprint not in seen
               and still_open(earlier.get(e.fingerprint) or OpenFinding(e.fingerprint, e.path, e.severity)))
    return PublishPlan(inline=tuple(inline), listed=_sorted([*listed, *carried]), posted=posted,
                       open=open_findings(findings, previous.open, still_open=still_open))


def open_findings(findings: Sequence[Finding], earlier: Iterable[OpenFinding], *,
                  still_open: Callable[[OpenFinding], bool]) -> tuple[OpenFinding, ...]:
    """This run's findings, and the earlier ones that still stand; the most severe first, at most
    OPEN_LIMIT (the gate needs the worst, the count is then a floor)."""
    current = {fingerprint_of(f): OpenFinding(fingerprint_of(f), f.path, f.severity, _quote_of(f)) for f in findings}
    kept = [o for o in earlier if o.fingerprint not in current and still_open(o)]
    ranked = sorted([*current.values(), *kept], key=lambda o: (-severity_rank(o.severity), o.path, o.fingerprint))
    return tuple(ranked[:OPEN_LIMIT])


def _quote_of(finding: Finding) -> str | None:
    quote = normalise(finding.quote or "")
    return quote[:QUOTE_LIMIT] or None


def next_state(plan: PublishPlan, *, head_sha: str | None, posted: Sequence[InlineComment],
               rejected: Sequence[InlineComment]) -> SummaryState:
    """The state the summary records after this run: refused comments join the listed findings.

    `head_sha` is the last head reviewed completely, which the next run reviews from.
    """
    refused = [replace(c.entry, reason="rejected") for c in rejected]
    return SummaryState(head_sha=head_sha, posted=plan.posted | {c.entry.fingerprint for c in posted},
                        listed=_sorted([*plan.listed, *refused]), open=plan.open)


# --- rendering ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def default_environment() -> jinja2.Environment:
    """The packaged comment templates; the CLI passes its own environment (base-commit overrides first)."""
    from qwen_review.prompts import make_environment

    return make_environment()


def _location(entry: ListedFinding) -> str:
    span = line_span(entry.line, entry.end_line)
    if span is None:
        return code_span(entry.path)
    return code_span(f"{entry.path}:{span}") + (" (old side)" if entry.side == "LEFT" else "")


def inline_comment(entry: ListedFinding, env: jinja2.Environment | None = None) -> InlineComment:
    """The review comment for an anchored finding; a suggestion block only on the new (RIGHT) side."""
    assert entry.line is not None
    end = entry.end_line if entry.end_line is not None and entry.end_line > entry.line else None
    # Suggestions stay byte-exact (GitHub commits them as written); inside a fence no @mention
    # pings and no HTML comment opens, and the fence is longer than any backtick run in them.
    suggestion = fence(entry.suggestion, "suggestion") if entry.suggestion is not None and entry.side == "RIGHT" else None
    template = (env or default_environment()).get_template("inline_comment.md.j2")
    text = template.render(finding=entry, suggestion=suggestion)
    body = f"{text.strip()}\n\n{fingerprint_marker(entry.fingerprint)}"
    return InlineComment(entry=entry, path=entry.path, line=entry.line if end is None else end, side=entry.side,
                         start_line=None if end is None else entry.line, body=body)


def review_body(run_id: str, *, count: int, head_sha: str) -> str:
    noun = "finding" if count == 1 else "findings"
    return f"{review_marker(run_id)}\nqwen-review: {count} new {noun} on `{head_sha[:12]}`."


# --- the summary comment ------------------------------------------------------------------------


def _view(entry: ListedFinding, *, head_sha: str, body_limit: int | None) -> dict[str, object]:
    # Neutralised again: a body stored by an earlier version may predate a rule (neutralize is idempotent).
    body = neutralize(entry.body) if body_limit is None else safe_text(entry.body, body_limit) if body_limit else ""
    suggestion = fence(entry.suggestion) if entry.suggestion is not None and body_limit is None else None
    return {"severity": entry.severity, "location": _location(entry), "title": entry.title,
            "category": entry.category, "reason": REASONS.get(entry.reason, entry.reason),
            "earlier": entry.seen_at[:12] if entry.seen_at != head_sha else None, "body": body,
            "suggestion": suggestion}


def render_summary(*, state: SummaryState, summary_markdown: str, inline_count: int,
                   env: jinja2.Environment | None = None, head_sha: str | None = None) -> tuple[str, bool]:
    """The summary comment body (marker, state, visible text) under BODY_BUDGET, and whether it was cut.

    `head_sha` is the head this run looked at (default: the state's), which the state does not
    record when part of it went unreviewed.
    """
    head = head_sha or state.head_sha or ""
    encoded = encode_state(state)
    state_cut = encoded.shortened
    prefix = f"{SUMMARY_MARKER}\n{encoded.line}\n"
    # DESIGN: no listed finding is lost; when the state cannot hold them all, the comment says so.
    untracked = "" if not encoded.untracked else (
        f"\n> {encoded.untracked} of the findings listed here (the least severe) are no longer tracked between runs: "
        "the hidden record of this comment is full. A later run lists them again only if it finds them again.\n")
    template = (env or default_environment()).get_template("summary_comment.md.j2")
    summary = neutralize(summary_markdown.strip())

    def render(body_limit: int | None, text: str, shown: int) -> str:
        cut = body_limit is not None or text != summary or shown < len(state.listed) or state_cut
        findings = [_view(e, head_sha=head, body_limit=body_limit) for e in state.listed[:shown]]
        return prefix + template.render(head_sha=head, short_sha=head[:12], summary=text, inline_count=inline_count,
                                        inline_total=len(state.posted), findings=findings, total=len(state.listed),
                                        omitted=len(state.listed) - shown, cut=cut).strip() + "\n" + untracked

    everything = len(state.listed)
    for body_limit in (None, 1_000, 0):
        body = render(body_limit, summary, everything)
        if len(body) <= BODY_BUDGET:
            return body, body_limit is not None or state_cut
    short = safe_text(summary_markdown.strip(), 4_000)
    low, high = 0, everything  # the most findings that still fit, one line each
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(render(0, short, middle)) <= BODY_BUDGET else (low, middle - 1)
    return render(0, short, low), True

