"""GitHub's own view of a pull request's diff: the lines it accepts review comments on.

GitHub's rename detection and hunks can differ from libgit2's in rare cases, so inline
comments are checked against the patches GitHub lists for the pull request (GitHub's view wins).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)")


@dataclass(frozen=True, slots=True)
class HunkHeader:
    """`@@ -old_start,old_lines +new_start,new_lines @@ section` of a unified diff."""

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    section: str  # the text git puts after the second "@@" (the enclosing function, say)


def parse_hunk_header(line: str) -> HunkHeader | None:
    """The header a line starts, or None; an omitted count is 1, as in git's output."""
    match = _HUNK.match(line)
    if match is None:
        return None
    return HunkHeader(int(match[1]), int(match[2] or 1), int(match[3]), int(match[4] or 1), match[5])


@dataclass(frozen=True, slots=True)
class PRFile:
    """One entry of GitHub's `pulls/{n}/files`; `patch` is None when GitHub leaves it out."""

    filename: str
    status: str
    patch: str | None
    previous_filename: str | None = None


@dataclass(frozen=True, slots=True)
class FileLines:
    """Commentable lines of one file, per side, each mapped to the index of its hunk."""

    right: Mapping[int, int]
    left: Mapping[int, int]

    def allows(self, *, line: int, side: str, start_line: int | None = None, start_side: str | None = None) -> bool:
        sides = {"RIGHT": self.right, "LEFT": self.left}
        if side not in sides or line not in sides[side]:
            return False
        if start_line is None:
            return True
        first = sides.get(start_side or side, {})
        return start_line in first and start_line < line and first[start_line] == sides[side][line]


def commentable_lines_from_patches(files: Iterable[PRFile]) -> dict[str, FileLines]:
    """Parse GitHub's `patch` strings: RIGHT = added/context lines, LEFT = deleted/context lines."""
    result: dict[str, FileLines] = {}
    for entry in files:
        right: dict[int, int] = {}
        left: dict[int, int] = {}
        hunk, old, new = -1, 0, 0
        # split on "\n" only: str.splitlines would also break at form feeds inside code lines
        for line in (entry.patch or "").split("\n"):
            header = parse_hunk_header(line)
            if header:
                hunk, old, new = hunk + 1, header.old_start, header.new_start
            elif hunk < 0 or not line:
                continue
            elif line[0] == "+":
                right[new], new = hunk, new + 1
            elif line[0] == "-":
                left[old], old = hunk, old + 1
            elif line[0] == " ":
                right[new], left[old] = hunk, hunk
                old, new = old + 1, new + 1
        result[entry.filename] = FileLines(right=right, left=left)
    return result
