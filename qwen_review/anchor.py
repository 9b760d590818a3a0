"""Pin each finding to a commentable diff line, or keep it explicitly unanchored (DESIGN.md, "Anchoring")."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qwen_review.diff import FileDiff
from qwen_review.review import Finding, Side, severity_rank

_SPACE = re.compile(r"\s+")


@dataclass
class _SideLines:
    """Commentable lines of one side of one file: number -> (hunk index, text)."""

    lines: dict[int, tuple[int, str]] = field(default_factory=dict)


@dataclass
class CommentableFile:
    right: _SideLines
    left: _SideLines

    def side(self, side: Side) -> _SideLines:
        return self.right if side == "RIGHT" else self.left


def commentable(file: FileDiff) -> CommentableFile:
    """RIGHT: added and context lines (new numbers); LEFT: deleted and context lines (old numbers)."""
    right, left = _SideLines(), _SideLines()
    for index, hunk in enumerate(file.hunks):
        for line in hunk.lines():
            if line.new_lineno is not None:
                right.lines[line.new_lineno] = (index, line.text)
            if line.old_lineno is not None and line.origin != "+":
                left.lines[line.old_lineno] = (index, line.text)
    return CommentableFile(right, left)


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def fingerprint(path: str, finding: Finding) -> str:
    """Stable across runs: the path and the quoted code (or the title), never the line number."""
    basis = normalise(finding.quote) if finding.quote and finding.quote.strip() else normalise(finding.title).lower()
    return hashlib.sha256(f"{path}\0{basis}".encode()).hexdigest()[:20]


class Anchorer:
    """Anchors findings against a fixed set of files; line tables are built per file on first use."""

    def __init__(self, files: Sequence[FileDiff]) -> None:
        self.files = {f.path: f for f in files}
        self.old_paths = {f.old_path: f.path for f in files if f.old_path != f.path}
        self._tables: dict[str, CommentableFile] = {}

    def table(self, path: str) -> CommentableFile:
        if path not in self._tables:
            self._tables[path] = commentable(self.files[path])
        return self._tables[path]

    def resolve_path(self, raw: str) -> str | None:
        path = raw.strip().strip("`").replace("\\", "/")
        for prefix in ("a/", "b/", "./", "/"):
            if path not in self.files and path.startswith(prefix):
                path = path[len(prefix):]
        if path in self.files:
            return path
        if path in self.old_paths:
            return self.old_paths[path]
        suffix = [p for p in self.files if p.endswith("/" + path)]
        return suffix[0] if len(suffix) == 1 else None

    def anchor(self, finding: Finding) -> Finding:
        path = self.resolve_path(finding.path)
        if path is None:
            finding.anchored = False
            return finding
        finding.path = path
        table = self.table(path)
        quote = _quote_line(finding.quote)
        line = finding.line
        sides: tuple[Side, ...] = (finding.side, "LEFT" if finding.side == "RIGHT" else "RIGHT")
        located = None
        if line is not None and line in table.side(finding.side).lines:
            text = table.side(finding.side).lines[line][1]
            if quote is None or _same(text, quote):
                located = (finding.side, line)
        if located is None and quote is not None:
            for side in sides:
                near = _nearest_quote(table.side(side), quote, line)
                if near is not None:
                    located = (side, near)
                    break
        if located is None:
            finding.anchored = False
            return finding
        side, new_line = located
        shift = new_line - line if line is not None else 0
        end = finding.end_line + shift if finding.end_line is not None else None
        lines = table.side(side).lines
        hunk = lines[new_line][0]
        if end is not None and (end <= new_line or end not in lines or lines[end][0] != hunk):
            end = None  # a range must stay inside one hunk; keep the finding on its first line
        finding.side, finding.line, finding.end_line, finding.anchored = side, new_line, end, True
        return finding


def _quote_line(quote: str | None) -> str | None:
    """The first non-empty line of a quote, without a diff mark a model may have copied."""
    if not quote:
        return None
    for line in quote.splitlines():
        if line.strip():
            return line.strip()
    return None


def _same(text: str, quote: str) -> bool:
    text = normalise(text)
    quote = normalise(quote)
    if text == quote:
        return True
    return quote[:1] in "+- " and normalise(quote[1:]) == text


def _nearest_quote(side: _SideLines, quote: str, near: int | None) -> int | None:
    matches = [number for number, (_, text) in side.lines.items() if _same(text, quote)]
    if not matches:
        return None
    return min(matches, key=lambda n: (abs(n - near) if near is not None else 0, n))


def anchor_findings(findings: Iterable[Finding], files: Sequence[FileDiff]) -> list[Finding]:
    """Anchor, merge duplicates, fingerprint; nothing is dropped."""
    anchorer = Anchorer(files)
    merged: dict[tuple[str, int | None, str, str], Finding] = {}
    for finding in findings:
        anchorer.anchor(finding)
        key = (finding.path, finding.line, finding.side, normalise(finding.title).lower())
        twin = merged.get(key)
        if twin is None:
            merged[key] = finding
        elif severity_rank(finding.severity) > severity_rank(twin.severity):
            finding.body = finding.body or twin.body
            merged[key] = finding
    result = list(merged.values())
    groups: dict[str, list[Finding]] = {}
    for finding in result:
        groups.setdefault(finding.fingerprint or fingerprint(finding.path, finding), []).append(finding)
    for base, members in groups.items():
        # Two different findings quoting the same code must not share one id (GitHub dedupes by it).
        # Ordered by title, not by the model's order, so the same findings get the same ids every run.
        members.sort(key=lambda f: (normalise(f.title).lower(), f.side, f.line or 0))
        for count, finding in enumerate(members):
            finding.fingerprint = base if count == 0 else hashlib.sha256(
                f"{base}\0{normalise(finding.title).lower()}\0{count}".encode()).hexdigest()[:20]
    return result
