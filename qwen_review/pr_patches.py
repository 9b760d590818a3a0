"""Review a pull request from GitHub's own patches when its commits cannot be had locally.

GitHub's `pulls/{n}/files` gives each file's hunks, not its contents. Each side of a file is
rebuilt as the hunks' lines at their own line numbers, with blank lines standing in for the
unchanged text between hunks (equally long on both sides, so it is no change). The two sides go
into a scratch repository as two trees, and the normal pipeline diffs them: the same hunks, the
same line numbers, the same review units, and no code from the pull request on disk.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwen_review.pr_diff import PRFile, parse_hunk_header

if TYPE_CHECKING:
    import pygit2


@dataclass(frozen=True)
class PatchTrees:
    """Two synthetic trees in a scratch repository; `unavailable` lists files GitHub gave no patch for."""

    repo: pygit2.Repository
    base_tree: pygit2.Oid
    head_tree: pygit2.Oid
    unavailable: tuple[str, ...]


def sides_from_patch(patch: str) -> tuple[str, str]:
    """Old and new text whose diff has the patch's hunks at the patch's line numbers."""
    old: list[str] = []
    new: list[str] = []
    eol = {"old": True, "new": True}
    last: tuple[str, ...] = ()
    for line in patch.split("\n"):
        header = parse_hunk_header(line)
        if header:
            _pad(old, header.old_start, header.old_lines, header.section)
            _pad(new, header.new_start, header.new_lines, header.section)
            continue
        origin, text = line[:1], line[1:]
        if origin == " ":
            old.append(text)
            new.append(text)
            last = ("old", "new")
        elif origin == "-":
            old.append(text)
            last = ("old",)
        elif origin == "+":
            new.append(text)
            last = ("new",)
        elif origin == "\\":  # "\ No newline at end of file" for the line before it
            for side in last:
                eol[side] = False
    return _join(old, eol["old"]), _join(new, eol["new"])


def _pad(lines: list[str], start: int, count: int, section: str) -> None:
    """Blank lines up to the hunk's first line (`-0,0` / `+0,0`: the hunk comes after line `start`).

    The last one carries the hunk header's section text (the enclosing function, say), so the
    rebuilt hunk header names the same section as GitHub's.
    """
    before = start if count == 0 else start - 1
    gap = before - len(lines)
    if gap > 0:
        lines.extend([""] * (gap - 1))
        lines.append(section)


def _join(lines: list[str], eol: bool) -> str:
    return "\n".join(lines) + ("\n" if lines and eol else "")


def file_sides(entry: PRFile) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(path, text) on the base side and on the head side; None where the file does not exist."""
    old_text, new_text = sides_from_patch(entry.patch or "")
    if entry.status == "removed":
        return (entry.filename, old_text), None
    if entry.status in ("added", "copied"):
        return None, (entry.filename, new_text)
    old_path = entry.previous_filename if entry.status == "renamed" and entry.previous_filename else entry.filename
    return (old_path, old_text), (entry.filename, new_text)


@contextlib.contextmanager
def patch_trees(files: Iterable[PRFile]) -> Iterator[PatchTrees]:
    """Both sides of the pull request rebuilt from its patches, in a repository removed afterwards."""
    import pygit2

    with tempfile.TemporaryDirectory(prefix="qwen-review-pr-") as scratch:
        repo = pygit2.init_repository(scratch, bare=True)
        base, head = pygit2.Index(), pygit2.Index()
        unavailable = []
        for entry in files:
            # No patch: binary or too large for GitHub to show (a pure rename has an empty one).
            if entry.patch is None and not (entry.status == "renamed" and entry.previous_filename):
                unavailable.append(entry.filename)
                continue
            for index, side in zip((base, head), file_sides(entry), strict=True):
                if side is not None:
                    blob = repo.create_blob(side[1].encode("utf-8", "surrogatepass"))
                    index.add(pygit2.IndexEntry(side[0], blob, pygit2.enums.FileMode.BLOB))
        yield PatchTrees(repo, base.write_tree(repo), head.write_tree(repo), tuple(unavailable))
        repo.free()
