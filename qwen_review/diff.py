"""Collect a diff with pygit2 into plain `FileDiff` records that agree with `git diff -M -U3`.

Patch text is produced by libgit2 in one call per file and parsed with string
operations that run in C (split, join, replace, itertools.compress), because a
Python loop per diff line is what would make a large diff slow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import compress, pairwise
from typing import TYPE_CHECKING, Literal

from qwen_review.errors import GitError

if TYPE_CHECKING:
    import pygit2

    from qwen_review.target import Target

Status = Literal["added", "modified", "deleted", "renamed", "copied", "type_changed"]
SkipReason = Literal["binary", "excluded", "generated", "too_large", "submodule", "deleted"]

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)")
_GITLINK_MODE = 0o160000
_SYMLINK_MODE = 0o120000


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk: origin is '+', '-' or ' '; numbers are None on the side it is absent."""

    origin: str
    old_lineno: int | None
    new_lineno: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Hunk:
    """A hunk as `git diff` prints it; `body` keeps the raw lines with their origin character."""

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    section: str
    body: tuple[str, ...]

    @property
    def header(self) -> str:
        tail = f" {self.section}" if self.section else ""
        return f"@@ -{self.old_start},{self.old_lines} +{self.new_start},{self.new_lines} @@{tail}"

    def lines(self) -> Iterator[DiffLine]:
        """The hunk's lines with old/new numbers; the '\\ No newline' markers are left out."""
        old, new = self.old_start, self.new_start
        for raw in self.body:
            origin, text = raw[:1], raw[1:]
            if origin == "+":
                yield DiffLine("+", None, new, text)
                new += 1
            elif origin == "-":
                yield DiffLine("-", old, None, text)
                old += 1
            elif origin == " ":
                yield DiffLine(" ", old, new, text)
                old += 1
                new += 1


@dataclass(slots=True)
class FileDiff:
    """Everything the pipeline knows about one changed file."""

    path: str
    old_path: str
    status: Status
    binary: bool = False
    skipped: SkipReason | None = None
    additions: int = 0
    deletions: int = 0
    hunks: list[Hunk] = field(default_factory=list)
    added_lines: list[int] = field(default_factory=list)
    deleted_lines: list[int] = field(default_factory=list)
    old_mode: int = 0
    new_mode: int = 0
    similarity: int = 0
    size: int = 0

    @property
    def reviewable(self) -> bool:
        return self.skipped is None and bool(self.hunks)


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """How deltas become `FileDiff`s; `skip_reason` decides before any patch text exists."""

    skip_reason: Callable[[str, int], SkipReason | None] = lambda path, size: None
    detect_copies: bool = False
    context_lines: int = 3


_STATUS: dict[str, Status] = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}


def collect(repo: pygit2.Repository, target: Target, options: CollectOptions | None = None) -> list[FileDiff]:
    """Diff `target.base_tree` against its head (a tree or the index) and parse every patch."""
    import pygit2

    from qwen_review.forked import split_map

    options = options or CollectOptions()
    flags = (
        pygit2.enums.DiffOption.INDENT_HEURISTIC
        | pygit2.enums.DiffOption.INCLUDE_TYPECHANGE
    )
    try:
        diff = _raw_diff(repo, target, flags, options.context_lines)
        find = pygit2.enums.DiffFind.FIND_RENAMES
        if options.detect_copies:
            find |= pygit2.enums.DiffFind.FIND_COPIES
        # git's default diff.renameLimit; libgit2's own default (200) would give up sooner than git.
        diff.find_similar(flags=find, rename_limit=1000)
    except pygit2.GitError as exc:
        raise GitError(f"cannot compute the diff: {exc}") from exc
    read_header = repo.odb.read_header
    files: list[FileDiff] = []
    wanted: list[tuple[int, FileDiff, pygit2.DiffDelta]] = []
    for index, delta in enumerate(diff.deltas):
        file = _file_from_delta(delta)
        if file.new_mode == _GITLINK_MODE or file.old_mode == _GITLINK_MODE:
            file.skipped = "submodule"
        else:
            side = delta.old_file if file.status == "deleted" else delta.new_file
            file.size = side.size or _blob_size(read_header, side.id)
            file.skipped = options.skip_reason(file.path, file.size)
        files.append(file)
        if file.skipped is None or file.status == "deleted":
            wanted.append((index, file, delta))
    ordinary = [(index, file) for index, file, _ in wanted if file.status != "type_changed"]

    def patch_text(index: int) -> bytes | None:
        """The patch text, b"" when libgit2 writes none, None for a binary file."""
        patch = diff[index]
        if patch is None:
            return b""
        return None if patch.delta.is_binary else patch.data

    # Patches come from libgit2 in C; on a large diff a forked child writes part of them meanwhile.
    texts = split_map(patch_text, [index for index, _ in ordinary], [file.size for _, file in ordinary])
    with closing(texts):
        for (_, file), text in zip(ordinary, texts, strict=True):
            if text is None:
                _mark_binary(file)
            else:
                _parse_patch(file, text)
    for _, file, delta in wanted:
        if file.status == "type_changed":
            for patch in _type_change_halves(repo, delta, options):
                if patch is None:
                    continue
                if patch.delta.is_binary:
                    _mark_binary(file)
                    break
                _parse_patch(file, patch.data)
        if file.status == "deleted" and file.skipped is None:
            file.skipped = "deleted"
    return files


def _mark_binary(file: FileDiff) -> None:
    file.binary = True
    file.skipped = "binary"
    file.hunks.clear()
    file.added_lines.clear()
    file.deleted_lines.clear()


def is_unchanged(repo: pygit2.Repository, target: Target) -> bool:
    """True when the two sides are identical; decided from tree ids or the index's deltas, no patch text."""
    if target.head_tree is not None:
        return target.base_tree == target.head_tree
    import pygit2

    return len(_raw_diff(repo, target, pygit2.enums.DiffOption.NORMAL, 0)) == 0


def _raw_diff(repo: pygit2.Repository, target: Target, flags: pygit2.enums.DiffOption, context: int) -> pygit2.Diff:
    import pygit2

    base_id = target.base_tree if target.base_tree is not None else repo.TreeBuilder().write()
    base = repo[base_id].peel(pygit2.Tree)
    diff: pygit2.Diff
    if target.head_tree is None:
        # The index (honouring GIT_INDEX_FILE) against the base tree.
        diff = repo.index.diff_to_tree(base, flags=flags, context_lines=context)
    else:
        diff = base.diff_to_tree(repo[target.head_tree].peel(pygit2.Tree), flags=flags, context_lines=context)
    return diff


def _type_change_halves(
    repo: pygit2.Repository, delta: pygit2.DiffDelta, options: CollectOptions
) -> list[pygit2.Patch | None]:
    """libgit2 writes no hunks for a type change; git prints a deletion then an addition, so do that."""
    import pygit2

    old, new = repo[delta.old_file.id].peel(pygit2.Blob), repo[delta.new_file.id].peel(pygit2.Blob)
    context = options.context_lines
    return [
        # Only the hunks are read: the name in the patch header just has to encode, so the decoded one does.
        pygit2.Patch.create_from(old, None, old_as_path=_path(delta.old_file), context_lines=context),
        pygit2.Patch.create_from(None, new, new_as_path=_path(delta.new_file), context_lines=context),
    ]


def _blob_size(read_header: Callable[[pygit2.Oid], tuple[int, int]], oid: pygit2.Oid) -> int:
    try:
        return read_header(oid)[1]
    except (KeyError, ValueError):
        return 0


def _file_from_delta(delta: pygit2.DiffDelta) -> FileDiff:
    status = _STATUS.get(delta.status_char(), "modified")
    return FileDiff(
        path=_path(delta.new_file),
        old_path=_path(delta.old_file),
        status=status,
        old_mode=delta.old_file.mode,
        new_mode=delta.new_file.mode,
        similarity=delta.similarity,
    )


def _path(side: pygit2.DiffFile) -> str:
    """The file name as text. pygit2's `.path` keeps bytes that are not UTF-8 as lone surrogates,
    which every later encode (cache key, report, HTTP body) rejects; U+FFFD stands in for them."""
    return side.raw_path.decode("utf-8", "replace")


def _parse_patch(file: FileDiff, data: bytes) -> None:
    """Fill hunks and line numbers from one file's patch text."""
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    origins = "".join([line[:1] for line in lines])
    starts = [m.start() for m in re.finditer("@", origins)]
    if not starts:
        return
    starts.append(len(origins))
    added, deleted = file.added_lines, file.deleted_lines
    for begin, end in pairwise(starts):
        header = _HUNK_HEADER.match(lines[begin])
        if header is None:  # pragma: no cover - libgit2 always writes well-formed headers
            raise GitError(f"unexpected hunk header in {file.path}: {lines[begin]!r}")
        old_start, new_start = int(header[1]), int(header[3])
        kinds = origins[begin + 1 : end].replace("\\", "")
        new_side = kinds.replace("-", "")
        old_side = kinds.replace("+", "")
        added.extend(compress(range(new_start, new_start + len(new_side)), map("+".__eq__, new_side)))
        deleted.extend(compress(range(old_start, old_start + len(old_side)), map("-".__eq__, old_side)))
        file.hunks.append(
            Hunk(
                old_start=old_start,
                old_lines=int(header[2]) if header[2] is not None else 1,
                new_start=new_start,
                new_lines=int(header[4]) if header[4] is not None else 1,
                section=header[5],
                body=tuple(lines[begin + 1 : end]),
            )
        )
    file.additions = len(added)
    file.deletions = len(deleted)

