"""Replace secrets in the diff lines that leave the machine by `[REDACTED:<kind>]`, one local finding each.

Speed: the hunks of every file that is sent are joined into one text (each hunk after a line
`@<section>`, so hunk headers are scanned too) and scanned once by one compiled expression
(`secret_patterns.SCAN_RE`, which holds the patterns), in C. Only its hits reach Python:
classification, entropy and placeholder checks, and detect-secrets' validators (imported only
when a candidate needs one).

A value given to a secret-looking name (password, secret, token, *_key, credentials)
counts when it does not look like code or a placeholder and its Shannon entropy reaches
`ENTROPY_THRESHOLD` (less for values shorter than 12 characters); so a UUID or a SHA assigned to
`api_key` is redacted, while one elsewhere is not.

Every file that has hunks is scanned: the files that are sent, and deleted files, which are not
sent but whose lines appear in reports (a secret a change deletes was committed before: its
finding says to rotate it).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from qwen_review.diff import DiffLine, FileDiff, Hunk
from qwen_review.review import Finding
from qwen_review.secret_patterns import CANDIDATES, DASHSCOPE, DESCRIPTIONS, KEYWORD, SCAN_RE, VALUE_GROUPS

ENTROPY_THRESHOLD = 3.0  # bits per character a value given to a secret-looking name must reach

_PLACEHOLDERS = ("your", "example", "sample", "placeholder", "changeme", "change_me", "change-me", "dummy",
                 "redacted", "xxxx", "****", "....", "secret", "passw", "token", "test", "fake", "todo",
                 "fixme", "none", "null", "undefined", "<", ">", "://")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w.$-]*")


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The files with secrets replaced, and one local finding per secret."""

    files: list[FileDiff]
    findings: list[Finding]

    @property
    def count(self) -> int:
        return len(self.findings)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: str


def redact_files(files: Sequence[FileDiff]) -> RedactionResult:
    """Redact every hunk line (added, deleted, context) and hunk header of every file with hunks."""
    lines: list[str] = []
    hunk_starts: list[int] = []  # index in `lines` of each hunk's `@section` line
    owners: list[tuple[int, int]] = []  # (file index, hunk index) of each hunk
    for file_index, file in enumerate(files):
        for hunk_index, hunk in enumerate(file.hunks):
            hunk_starts.append(len(lines))
            owners.append((file_index, hunk_index))
            lines.append("@" + hunk.section)
            lines.extend(hunk.body)
    text = "\n".join(lines)
    spans = _find_spans(text)
    if not spans:
        return RedactionResult(list(files), [])
    edits, firsts = _line_edits(text, spans, hunk_starts)
    redacted = {index: _apply(lines[index], changes) for index, changes in edits.items()}
    findings = _findings(files, lines, redacted, firsts, hunk_starts, owners)
    return RedactionResult(_rebuild(files, redacted, hunk_starts, owners), findings)


def _apply(line: str, changes: list[tuple[int, int, str]]) -> str:
    """Replace the column ranges (merged where they overlap) by their placeholders."""
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(changes):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end), merged[-1][2])
        else:
            merged.append((start, end, kind))
    for start, end, kind in reversed(merged):
        line = f"{line[:start]}[REDACTED:{kind}]{line[end:]}"
    return line


def _hits(text: str) -> Iterator[tuple[str, re.Match[str]]]:
    """Each scan hit as (kind, match of the full pattern from the secret's real start)."""
    for hit in SCAN_RE.finditer(text):
        for kind, width, pattern in CANDIDATES[text[hit.start()]]:
            match = pattern.match(text, hit.start() - width)
            if match is not None:
                yield kind, match
                break


def _find_spans(text: str) -> list[_Span]:
    """Verified secret spans, sorted, overlaps merged (a specific kind beats a generic one)."""
    found: list[_Span] = []
    for kind, match in _hits(text):
        if kind != KEYWORD:
            span = _verify_token(kind, match.group(), match.start())
        else:
            group = next(g for g in VALUE_GROUPS if match.start(g) >= 0)
            value = match.group(group)
            tokens = (_verify_token(k, m.group(), 0) for k, m in _hits(value) if k != KEYWORD)
            inner = next((token.kind for token in tokens if token is not None), None)
            if inner is None and not _plausible_value(value, bare=group == "bare"):
                continue
            span = _Span(match.start(group), match.end(group), inner or "high_entropy_secret")
        if span is not None:
            found.append(span)
    found.sort(key=lambda s: (s.start, -s.end))
    merged: list[_Span] = []
    for span in found:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            kind = last.kind if last.kind != "high_entropy_secret" else span.kind
            merged[-1] = _Span(last.start, max(last.end, span.end), kind)
        else:
            merged.append(span)
    return merged


def _verify_token(kind: str, token: str, start: int) -> _Span | None:
    """Apply the checks of the token's kind; None for a false alarm."""
    if kind in ("private_key", "private_key_tail"):
        return _Span(start, start + len(token), kind)
    if kind == "url_password":
        password = token[token.index(":", 3) + 1:-1]
        if not _plausible_value(password, bare=False, minimum=6):
            return None
        return _Span(start + len(token) - 1 - len(password), start + len(token) - 1, kind)
    if kind == "bearer_token":
        value = token.split(None, 1)[1]
        if not _plausible_value(value, bare=False):
            return None
        return _Span(start + len(token) - len(value), start + len(token), kind)
    lowered = token.lower()
    if "example" in lowered or "xxxxx" in lowered or _entropy(token) < 2.5:
        return None  # documentation placeholders such as AKIAIOSFODNN7EXAMPLE
    if kind == "openai_key":
        if DASHSCOPE.fullmatch(token):
            kind = "dashscope_key"
        elif sum(c.isdigit() for c in token) < 2 or _entropy(token[3:]) < ENTROPY_THRESHOLD:
            return None  # e.g. sk-learn-classification-model
    elif kind == "jwt":
        from detect_secrets.plugins.jwt import JwtTokenDetector

        if not JwtTokenDetector.is_formally_valid(token):
            return None
    return _Span(start, start + len(token), kind)


def _plausible_value(value: str, *, bare: bool, minimum: int = 8) -> bool:
    """Whether a value given to a secret-looking name looks like a real secret rather than code or a placeholder."""
    if len(value) < minimum:
        return False
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDERS) or value.endswith(":"):
        return False
    if bare and (any(c in value for c in "([{$%") or (_IDENTIFIER.fullmatch(value)
                 and sum(c.isdigit() for c in value) < 2)):
        return False  # code: a call, an index, a variable or attribute name
    classes = (any(c.islower() for c in value) + any(c.isupper() for c in value)
               + any(c.isdigit() for c in value) + (not value.isalnum()))
    if classes < 2 or _entropy(value) < min(ENTROPY_THRESHOLD, 0.85 * math.log2(len(value))):
        return False
    from detect_secrets.filters.heuristic import (
        is_prefixed_with_dollar_sign,
        is_sequential_string,
        is_templated_secret,
    )

    return not (is_sequential_string(value) or is_templated_secret(value) or is_prefixed_with_dollar_sign(value))


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in Counter(value).values())


def _line_edits(text: str, spans: list[_Span], hunk_starts: list[int]
                ) -> tuple[dict[int, list[tuple[int, int, str]]], list[tuple[int, str]]]:
    """Per line, the (start, end, kind) column ranges to replace; and each secret's first line and kind.

    Column 0 holds the origin mark (or '@' of a header line) and is never replaced.
    """
    edits: dict[int, list[tuple[int, int, str]]] = {}
    firsts: list[tuple[int, str]] = []
    cursor = line = 0  # spans are sorted, so one forward walk converts positions to (line, column)

    def locate(position: int) -> tuple[int, int]:
        nonlocal cursor, line
        line += text.count("\n", cursor, position)
        cursor = position
        return line, position - (text.rfind("\n", 0, position) + 1)

    for span in spans:
        first, column = locate(span.start)
        last, end_column = locate(span.end)
        kind = span.kind
        if kind == "private_key_tail":  # from the start of its hunk (or from the header line itself)
            kind = "private_key"
            header = hunk_starts[bisect_right(hunk_starts, first) - 1]
            first, column = (first, 1) if header == first else (header + 1, 1)
        firsts.append((first, kind))
        for index in range(first, last + 1):
            begin = max(column if index == first else 1, 1)
            stop = end_column if index == last else len(text)  # len(text): to the end of the line
            if stop > begin:
                edits.setdefault(index, []).append((begin, stop, kind))
    return edits, firsts


def _findings(files: Sequence[FileDiff], lines: list[str], redacted: dict[int, str], firsts: list[tuple[int, str]],
              hunk_starts: list[int], owners: list[tuple[int, int]]) -> list[Finding]:
    findings: list[Finding] = []
    quotes: set[tuple[str, str]] = set()
    headers: list[tuple[FileDiff, str, str]] = []
    numbered: dict[int, list[DiffLine | None]] = {}  # per hunk with a secret: its body's numbered lines
    for index, kind in firsts:
        position = bisect_right(hunk_starts, index) - 1
        file_index, hunk_index = owners[position]
        file = files[file_index]
        quote = redacted.get(index, lines[index])[1:]
        if index == hunk_starts[position]:
            headers.append((file, kind, quote))
            continue
        if position not in numbered:
            numbered[position] = _numbered(file.hunks[hunk_index])
        line = numbered[position][index - hunk_starts[position] - 1]
        if line is None:  # pragma: no cover - a '\\ No newline' marker holds no secret
            continue
        removed = line.origin == "-"
        number = line.old_lineno if removed else line.new_lineno
        quotes.add((file.path, quote))
        findings.append(_finding(file, number, "LEFT" if removed else "RIGHT", kind, quote, "on this line",
                                 removed=removed))
    for file, kind, quote in headers:  # a hunk header repeats a line of the file: report it only once
        if (file.path, quote) not in quotes:
            quotes.add((file.path, quote))
            findings.append(_finding(file, None, "RIGHT", kind, None, "in a hunk header (the context line after @@)",
                                     removed=file.status == "deleted"))
    return findings


def _numbered(hunk: Hunk) -> list[DiffLine | None]:
    """The hunk's lines with their numbers, one per body line (None for a '\\ No newline' marker)."""
    lines = hunk.lines()  # yields every body line but the markers, in order
    return [next(lines) if raw[:1] in ("+", "-", " ") else None for raw in hunk.body]


def _finding(file: FileDiff, line: int | None, side: str, kind: str, quote: str | None, where: str, *,
             removed: bool) -> Finding:
    what = DESCRIPTIONS.get(kind, f"a {kind.replace('_', ' ')}")
    if file.skipped is None:
        shown = f"It was replaced by [REDACTED:{kind}] before anything was sent to the model."
    else:
        shown = f"It is shown as [REDACTED:{kind}] here; this file is not sent to the model."
    if removed:  # deleting a secret does not un-publish it
        advice = ("This change removes it, but it was committed before and stays in the history: if it is a real "
                  "credential, rotate it (revoke it and issue a new one).")
    else:
        advice = ("If it is a real credential, revoke it, remove it from the history, and load it from the "
                  "environment or a secret store instead.")
    # Removing a secret is the right change: it must not fail a --fail-on high gate, but still says to rotate.
    return Finding(path=file.path, line=line, end_line=None, side="LEFT" if side == "LEFT" else "RIGHT",
                   severity="low" if removed else "high", category="security",
                   title=f"Possible secret in diff: {kind}",
                   body=f"What looks like {what} appears {where}. {shown} {advice}", quote=quote, local=True)


def _rebuild(files: Sequence[FileDiff], redacted: dict[int, str], hunk_starts: list[int],
             owners: list[tuple[int, int]]) -> list[FileDiff]:
    """New FileDiff and Hunk objects where a line changed; the same objects elsewhere."""
    changed: dict[int, dict[int, dict[int, str]]] = {}
    for index, line in redacted.items():
        position = bisect_right(hunk_starts, index) - 1
        file_index, hunk_index = owners[position]
        changed.setdefault(file_index, {}).setdefault(hunk_index, {})[index - hunk_starts[position]] = line
    result = list(files)
    for file_index, hunks in changed.items():
        new_hunks = list(files[file_index].hunks)
        for hunk_index, new_lines in hunks.items():
            hunk = new_hunks[hunk_index]
            body = list(hunk.body)
            section = hunk.section
            for offset, line in new_lines.items():
                if offset == 0:
                    section = line[1:]
                else:
                    body[offset - 1] = line
            new_hunks[hunk_index] = replace(hunk, section=section, body=tuple(body))
        result[file_index] = replace(files[file_index], hunks=new_hunks)
    return result
