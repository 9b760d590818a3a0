"""What the `git` command line itself says about a diff, in the shape of the JSON report's `files`."""

from __future__ import annotations

import re

from tests.gitrepo import GitRepo

_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type_changed"}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def git_files(repo: GitRepo, *diff_args: str, copies: bool = False) -> list[dict[str, object]]:
    """Parse `git diff -M -U3` (raw + patch) for the given revisions or `--cached`."""
    base = ["diff", "--no-color", "--no-ext-diff", "-M", "-U3", "--indent-heuristic"]
    if copies:
        base.append("-C")
    raw = repo.git(*base, "--raw", "-z", *diff_args)
    entries = _parse_raw(raw)
    patch = repo.git(*base, "--src-prefix=a/", "--dst-prefix=b/", *diff_args)
    sections = _split_sections(patch)
    files: list[dict[str, object]] = []
    position = 0
    for status, old_path, path in entries:
        # A type change is printed as two sections: the deletion, then the addition.
        count = 2 if status == "type_changed" else 1
        hunks: list[dict[str, int]] = []
        added: list[int] = []
        deleted: list[int] = []
        binary = False
        for section in sections[position : position + count]:
            binary |= _parse_section(section, hunks, added, deleted)
        position += count
        files.append({
            "path": path, "old_path": old_path, "status": status, "binary": binary,
            "hunks": hunks, "added_lines": added, "deleted_lines": deleted,
            "additions": len(added), "deletions": len(deleted),
        })
    assert position == len(sections), "raw and patch output disagree"
    return files


def _parse_raw(raw: str) -> list[tuple[str, str, str]]:
    fields = raw.split("\0")
    entries = []
    i = 0
    while i < len(fields) and fields[i]:
        meta = fields[i].split()
        letter = meta[4][0]
        if letter in "RC":
            old_path, path = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old_path = path = fields[i + 1]
            i += 2
        entries.append((_STATUS[letter], old_path, path))
    return entries


def _split_sections(patch: str) -> list[list[str]]:
    sections: list[list[str]] = []
    for line in patch.split("\n"):
        if line.startswith("diff --git "):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return sections


def _parse_section(lines: list[str], hunks: list[dict[str, int]], added: list[int], deleted: list[int]) -> bool:
    binary = any(line.startswith(("Binary files ", "GIT binary patch")) for line in lines[:8])
    old = new = 0
    in_hunk = False
    for line in lines:
        match = _HUNK.match(line)
        if match:
            in_hunk = True
            old, new = int(match[1]), int(match[3])
            hunks.append({
                "old_start": old, "old_lines": int(match[2]) if match[2] is not None else 1,
                "new_start": new, "new_lines": int(match[4]) if match[4] is not None else 1,
            })
            continue
        if not in_hunk or not line:
            continue
        if line[0] == "+":
            added.append(new)
            new += 1
        elif line[0] == "-":
            deleted.append(old)
            old += 1
        elif line[0] == " ":
            old += 1
            new += 1
    return binary
