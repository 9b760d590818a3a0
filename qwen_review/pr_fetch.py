"""Make sure the local checkout holds a pull request's base, head and their merge base.

`actions/checkout` clones one commit by default (the PR's merge commit, or the base for
`pull_request_target`), so the base, the head and the history between them are usually
missing. libgit2 cannot deepen a shallow clone, so this runs `git fetch` for the two SHAs with
a growing depth until a merge base appears, then `--unshallow`. A server that sends only what
its refs advertise refuses a head that is no branch's tip (a fork's head, or one the pull request
has moved past since the event): then `refs/pull/<n>/head`, which GitHub keeps for every pull
request, is fetched instead. It relies on the credentials `actions/checkout` leaves in the
repository's config; when fetching fails, the caller falls back to the pull request's files
from the API.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_review import output
from qwen_review.errors import GitError
from qwen_review.target import open_repository

if TYPE_CHECKING:
    import pygit2

REMOTE = "origin"
DEPTHS = (50, 500)  # commits below each tip; then the whole history
FETCH_TIMEOUT = 600.0


@dataclass(frozen=True)
class History:
    """A repository that holds `base`, `head` and their merge base."""

    repo: pygit2.Repository
    merge_base: str


def has_commit(repo: pygit2.Repository, sha: str) -> bool:
    import pygit2

    try:
        return repo[sha].type == pygit2.enums.ObjectType.COMMIT
    except (KeyError, ValueError):
        return False


def merge_base(repo: pygit2.Repository, base: str, head: str) -> str | None:
    """The merge base, or None when a side is missing or a shallow boundary hides the common history."""
    import pygit2

    if not (has_commit(repo, base) and has_commit(repo, head)):
        return None
    try:
        found = repo.merge_base(base, head)
    except (pygit2.GitError, KeyError, ValueError):
        return None
    return str(found) if found is not None else None


def is_ancestor(repo: pygit2.Repository, ancestor: str, descendant: str) -> bool:
    """True when `ancestor` is `descendant` or one of its ancestors, both present locally."""
    import pygit2

    if not (has_commit(repo, ancestor) and has_commit(repo, descendant)):
        return False
    if ancestor == descendant:
        return True
    try:
        return bool(repo.descendant_of(descendant, ancestor))
    except (pygit2.GitError, KeyError, ValueError):
        return False


def ensure_history(root: Path, base: str, head: str, *, number: int | None = None,
                   scrub: Callable[[str], str] = str,
                   run: Callable[[Path, Sequence[str]], None] | None = None) -> History | None:
    """The repository at `root` with the merge base of `base` and `head`, fetching what is missing.

    None when it cannot be had (no remote, fetch refused, unrelated histories): the caller then
    reviews GitHub's own patches instead. `number` (the pull request's) allows fetching
    `refs/pull/<number>/head` when the server refuses the head's SHA. `scrub` removes secrets
    from git's messages.
    """
    run = run or _git
    repo = open_repository(root)
    found = merge_base(repo, base, head)
    if found is not None:
        return History(repo, found)
    if REMOTE not in [remote.name for remote in repo.remotes]:
        output.log.info("the checkout lacks the pull request's commits and has no %r remote to fetch them", REMOTE)
        return None
    missing = [sha[:12] for sha in (base, head) if not has_commit(repo, sha)]
    output.log.info("fetching the pull request's history (missing: %s; shallow: %s)",
                    ", ".join(missing) or "the merge base", repo.is_shallow)
    wants = [base, head]
    by_ref = None if number is None else [*([base] if not has_commit(repo, base) else []), f"refs/pull/{number}/head"]
    for args in _fetch_steps(repo):
        try:
            wants = _fetch(run, Path(repo.workdir), args, wants, by_ref, scrub=scrub)
        except GitError as exc:
            output.log.info("cannot fetch the pull request's commits: %s", scrub(exc.message))
            return None
        repo = open_repository(root)  # reopened: libgit2 reads the new shallow boundary at open
        found = merge_base(repo, base, head)
        if found is not None:
            return History(repo, found)
    output.log.info("%s and %s have no common history", base[:12], head[:12])
    return None


def _fetch(run: Callable[[Path, Sequence[str]], None], cwd: Path, args: Sequence[str], wants: list[str],
           by_ref: list[str] | None, *, scrub: Callable[[str], str]) -> list[str]:
    """Fetch `wants`, else `by_ref` when given; returns what was fetched, for the next, deeper step."""
    command = ["fetch", "--no-tags", "--no-recurse-submodules", "--quiet", *args, REMOTE]
    try:
        run(cwd, [*command, *wants])
        return wants
    except GitError as exc:
        if by_ref is None or wants == by_ref:
            raise
        output.log.info("fetching by SHA failed (%s); fetching %s instead", scrub(exc.message), by_ref[-1])
    run(cwd, [*command, *by_ref])
    return by_ref


def _fetch_steps(repo: pygit2.Repository) -> list[list[str]]:
    if not repo.is_shallow:
        return [[]]  # a full clone that only lacks the two commits (e.g. a fork's head)
    return [*([f"--depth={depth}"] for depth in DEPTHS), ["--unshallow"]]


def _git(cwd: Path, args: Sequence[str]) -> None:
    """Run git without a terminal prompt; a failure is a GitError carrying git's last message line."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    try:
        result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False,
                                timeout=FETCH_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]} did not run: {exc}") from exc
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {result.returncode}'}")
