"""Decide, from a path and a size alone, which changed files are not reviewed and why.

Runs on the deltas before libgit2 writes any patch text, so an excluded file costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from qwen_review.diff import SkipReason
from qwen_review.errors import ConfigError

# Files people do not want reviewed: lock files, minified or generated code, vendored trees.
# Documented in docs/configuration.md; `default_excludes = false` turns them off and
# `--include` brings single files back.
GENERATED_PATTERNS: tuple[str, ...] = (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "Cargo.lock", "go.sum",
    "composer.lock", "Gemfile.lock", "mix.lock", "pubspec.lock", "flake.lock",
    "packages.lock.json", "*.min.js", "*.min.css", "*.min.mjs", "*.map", "*.bundle.js",
    "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*.pb.go", "*.pb.cc", "*.pb.h",
    "*.generated.*", "*.g.dart", "*.freezed.dart", "*.designer.cs",
)
VENDORED_PATTERNS: tuple[str, ...] = (
    "vendor/**", "**/vendor/**", "node_modules/**", "**/node_modules/**",
    "third_party/**", "**/third_party/**", ".yarn/**",
)
DEFAULT_MAX_FILE_BYTES = 1_000_000


def glob_to_regex(pattern: str) -> str:
    """Translate a path glob: `*` stays inside a directory, `**` crosses them, `?` is one character.

    As in `.gitignore`, a pattern with no `/` but a trailing one matches in any directory,
    and a trailing `/` means everything below that directory.
    """
    pattern = pattern.strip()
    if pattern.startswith("./"):
        pattern = pattern[2:]
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        close = pattern.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif close != -1:
            body = pattern[i + 1 : close].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else f"[{body}]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return ("" if anchored else "(?:.*/)?") + "".join(out)


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for a list of globs (None for an empty list), matched against whole paths."""
    patterns = [p for p in patterns if p.strip()]
    if not patterns:
        return None
    for pattern in patterns:
        try:
            re.compile(glob_to_regex(pattern))
        except re.error as exc:
            raise ConfigError(f"invalid glob {pattern!r}: {exc}") from exc
    return re.compile("(?:" + "|".join(glob_to_regex(p) for p in patterns) + r")\Z")


class PathFilter:
    """The include/exclude/size rules of one run, callable as `(path, size) -> reason or None`."""

    def __init__(
        self,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        *,
        default_excludes: bool = True,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.include = compile_globs(include)
        self.exclude = compile_globs(exclude)
        self.generated = compile_globs(GENERATED_PATTERNS) if default_excludes else None
        self.vendored = compile_globs(VENDORED_PATTERNS) if default_excludes else None
        self.max_file_bytes = max_file_bytes

    def __call__(self, path: str, size: int) -> SkipReason | None:
        included = self.include is not None and self.include.match(path) is not None
        if self.include is not None and not included:
            return "excluded"
        if self.exclude is not None and self.exclude.match(path):
            return "excluded"
        if not included:
            if self.vendored is not None and self.vendored.match(path):
                return "excluded"
            if self.generated is not None and self.generated.match(path):
                return "generated"
        if self.max_file_bytes and size > self.max_file_bytes:
            return "too_large"
        return None
