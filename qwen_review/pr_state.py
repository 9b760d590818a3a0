"""The hidden part of what qwen-review writes on a pull request: markers and saved state, and reading them back.

The summary comment starts with a hidden marker and a hidden state line (last reviewed head,
fingerprints posted inline, findings listed in the summary), so the state survives any cut
of the visible text. Each inline comment ends with a hidden fingerprint marker, and each review
starts with a run marker, by which a retried write finds out whether its first attempt was stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pydantic import BaseModel, ValidationError

from qwen_review.report.markdown import neutralize
from qwen_review.review import severity_rank

STATE_BUDGET = 30_000  # the hidden state never takes more than this of the summary's BODY_BUDGET
SUMMARY_MARKER = "<!-- qwen-review:summary -->"
_STATE_RE = re.compile(r"<!-- qwen-review:state v1 ([A-Za-z0-9+/=]*) -->")
_ID = r"[0-9A-Za-z_.:]+(?:-[0-9A-Za-z_.:]+)*"  # no "--", which could end an HTML comment
_FP_RE = re.compile(rf"<!-- qwen-review:fp=({_ID}) -->\s*\Z")
_RUN_RE = re.compile(rf"<!-- qwen-review:review run=({_ID}) -->")
_SAFE_ID = re.compile(_ID)


def safe_id(fingerprint: str) -> str:
    """A fingerprint as it may appear inside a marker; anything unusual is hashed."""
    if len(fingerprint) <= 100 and _SAFE_ID.fullmatch(fingerprint):
        return fingerprint
    return hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:32]


def fingerprint_marker(fingerprint: str) -> str:
    return f"<!-- qwen-review:fp={safe_id(fingerprint)} -->"


def fingerprint_in(body: str | None) -> str | None:
    """The fingerprint of an inline comment we wrote (its marker is the body's last line)."""
    match = _FP_RE.search(body or "")
    return match[1] if match else None


def review_marker(run_id: str) -> str:
    return f"<!-- qwen-review:review run={safe_id(run_id)} -->"


def review_run_in(body: str | None) -> str | None:
    match = _RUN_RE.match(body or "")
    return match[1] if match else None


def is_summary(body: str | None) -> bool:
    return (body or "").startswith(SUMMARY_MARKER)


def fingerprints_in(bodies: Iterable[str | None]) -> frozenset[str]:
    """The fingerprints marked in comments we wrote."""
    return frozenset(fp for fp in map(fingerprint_in, bodies) if fp)


def safe_text(text: str, limit: int) -> str:
    """Neutralised Markdown cut at a line end near `limit` (neutralize closes a fence the cut left open)."""
    if len(text) <= limit:
        return neutralize(text)
    return neutralize(text[:limit].rsplit("\n", 1)[0]) + "\n\n… (cut)"


@dataclass(frozen=True, slots=True)
class ListedFinding:
    """A finding as stored in the summary state; text already neutralised."""

    fingerprint: str
    path: str
    line: int | None
    end_line: int | None
    side: str
    severity: str
    category: str
    title: str
    body: str
    suggestion: str | None
    reason: str
    seen_at: str  # head SHA of the run that found it


@dataclass(frozen=True, slots=True)
class OpenFinding:
    """A finding that still counts for the pull request (its gate and outputs), from this run or an earlier one."""

    fingerprint: str
    path: str
    severity: str
    quote: str | None = None  # the code it quoted, whitespace collapsed: whether it is still there tells a fix


@dataclass(frozen=True, slots=True)
class SummaryState:
    head_sha: str | None = None
    posted: frozenset[str] = frozenset()
    listed: tuple[ListedFinding, ...] = ()
    open: tuple[OpenFinding, ...] = ()
    open_known: bool = True  # False for a state written before `open` existed: its inline findings are not in it


class _StateDoc(BaseModel):
    head: str | None
    posted: list[str]
    listed: list[ListedFinding]
    open: list[OpenFinding] | None = None  # absent in states written before it existed


def _state_line(state: SummaryState, listed: Sequence[ListedFinding]) -> str:
    doc = _StateDoc(head=state.head_sha, posted=sorted(state.posted), listed=list(listed), open=list(state.open))
    packed = base64.b64encode(zlib.compress(doc.model_dump_json().encode("utf-8"), 9)).decode("ascii")
    return f"<!-- qwen-review:state v1 {packed} -->"


@dataclass(frozen=True, slots=True)
class EncodedState:
    line: str  # the hidden state line
    shortened: bool  # listed texts were cut, or entries left out
    untracked: int  # listed findings left out of the state: the next run no longer knows them


def encode_state(state: SummaryState) -> EncodedState:
    """The hidden state line within STATE_BUDGET, shrinking listed texts (then leaving out entries) if needed.

    Entries are left out least severe first, and the caller says how many in the visible text.
    """
    for shrink in (None, 500, 0):
        listed = state.listed if shrink is None else tuple(
            replace(e, body=safe_text(e.body, shrink) if shrink else "", suggestion=None) for e in state.listed)
        line = _state_line(state, listed)
        if len(line) <= STATE_BUDGET:
            return EncodedState(line, shrink is not None, 0)
    ranked = sorted(listed, key=lambda e: -severity_rank(e.severity))  # stable: the given order within a severity
    low, high = 0, len(ranked)  # the most entries that fit
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(_state_line(state, ranked[:middle])) <= STATE_BUDGET else (low, middle - 1)
    return EncodedState(_state_line(state, ranked[:low]), True, len(ranked) - low)


def decode_state(body: str | None) -> SummaryState:
    """The state saved in a summary comment; a missing or damaged state reads as empty."""
    lines = (body or "").split("\n", 2)
    # only the line right under the marker: model text further down cannot pose as state
    match = _STATE_RE.fullmatch(lines[1].rstrip("\r")) if is_summary(body) and len(lines) > 1 else None
    if match is None:
        return SummaryState()
    try:
        doc = _StateDoc.model_validate_json(zlib.decompress(base64.b64decode(match[1], validate=True)))
    except (binascii.Error, zlib.error, ValidationError, ValueError):
        return SummaryState()
    # A state from before `open` existed: its listed findings are the ones known to count.
    known = doc.open if doc.open is not None else [OpenFinding(e.fingerprint, e.path, e.severity) for e in doc.listed]
    return SummaryState(head_sha=doc.head, posted=frozenset(doc.posted), listed=tuple(doc.listed), open=tuple(known),
                        open_known=doc.open is not None)
