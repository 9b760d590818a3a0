"""Turn a revision spec into the two trees to compare."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from qwen_review.errors import GitError

if TYPE_CHECKING:
    import pygit2

TargetKind = Literal["staged", "commit", "range", "pull_request"]


@dataclass(frozen=True, slots=True)
class Target:
    """What to review: base tree (None = empty tree) vs head tree (None = the index)."""

    kind: TargetKind
    spec: str
    base_commit: str | None
    head_commit: str | None
    base_tree: pygit2.Oid | None
    head_tree: pygit2.Oid | None


def open_repository(path: str | os.PathLike[str] | None = None) -> pygit2.Repository:
    """Open the repository containing `path` (default: the working directory).

    `RepositoryOpenFlag.FROM_ENV` makes libgit2 honour the variables git sets for
    hooks, above all `GIT_INDEX_FILE`: during `git commit -a` or `git commit <path>`
    git stages into a temporary index and the hook must review that one.
    """
    import pygit2

    start = Path(path) if path is not None else Path.cwd()
    try:
        repo = pygit2.Repository(str(start), pygit2.enums.RepositoryOpenFlag.FROM_ENV)
    except pygit2.GitError as exc:
        raise GitError(f"not a git repository: {start}", hint="run qwen-review inside a git work tree") from exc
    if repo.is_bare:
        raise GitError(f"{repo.path} is a bare repository: qwen-review needs a work tree")
    return repo


def resolve(repo: pygit2.Repository, spec: str | None, *, staged: bool = False) -> Target:
    """Resolve the CLI revision forms of the contract (see `qwen-review --help`)."""
    if staged or not spec:
        if spec and staged:
            raise GitError("give either --staged or a revision, not both")
        return staged_target(repo)
    if spec.endswith("^!"):
        commit = _commit(repo, spec[:-2])
        parent = commit.parents[0] if commit.parents else None
        return Target(
            "commit", spec,
            base_commit=str(parent.id) if parent else None, head_commit=str(commit.id),
            base_tree=parent.tree_id if parent else None, head_tree=commit.tree_id,
        )
    if "..." in spec:
        left, right = spec.split("...", 1)
        a, b = _commit(repo, left or "HEAD"), _commit(repo, right or "HEAD")
        base = _merge_base(repo, a, b, spec)
        return _range(repo, "range", spec, base, b)
    if ".." in spec:
        left, right = spec.split("..", 1)
        return _range(repo, "range", spec, _commit(repo, left or "HEAD"), _commit(repo, right or "HEAD"))
    head = _commit(repo, "HEAD")
    other = _commit(repo, spec)
    base = _merge_base(repo, other, head, spec)
    return _range(repo, "range", spec, base, head)


def staged_target(repo: pygit2.Repository) -> Target:
    """The index against HEAD, or against the empty tree on an unborn branch."""
    head = None if repo.head_is_unborn else _commit(repo, "HEAD")
    return Target(
        "staged", "--staged",
        base_commit=str(head.id) if head else None, head_commit=None,
        base_tree=head.tree_id if head else None, head_tree=None,
    )


def commits_target(repo: pygit2.Repository, kind: TargetKind, spec: str, base: str, head: str) -> Target:
    """A target between two known commit ids (pull requests, pre-push ranges)."""
    return _range(repo, kind, spec, _commit(repo, base), _commit(repo, head))


def _range(repo: pygit2.Repository, kind: TargetKind, spec: str,
           base: pygit2.Commit, head: pygit2.Commit) -> Target:
    return Target(
        kind, spec,
        base_commit=str(base.id), head_commit=str(head.id),
        base_tree=base.tree_id, head_tree=head.tree_id,
    )


def _commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    import pygit2

    if rev == "HEAD" and repo.head_is_unborn:
        raise GitError("HEAD has no commit yet (unborn branch): review the staged changes with --staged")
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise GitError(f"unknown revision: {rev!r}", hint=_unknown_revision_hint(repo, rev)) from exc
    return commit


def _unknown_revision_hint(repo: pygit2.Repository, rev: str) -> str:
    """`HEAD~1` in a repository of one commit is the usual first try: say how to review that commit."""
    import pygit2

    match = re.fullmatch(r"(.+?)(?:~\d*|\^\d*)+", rev)
    if match is None:
        return "check it with `git rev-parse`"
    try:
        start = repo.revparse_single(match[1]).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return "check it with `git rev-parse`"
    if not start.parents:
        return f"{match[1]} is the first commit; `qwen-review {match[1]}^!` reviews it against the empty tree"
    return f"the history of {match[1]} is not that long; see `git log --oneline {match[1]}`"


def _merge_base(repo: pygit2.Repository, a: pygit2.Commit, b: pygit2.Commit, spec: str) -> pygit2.Commit:
    base_id: pygit2.Oid | None = repo.merge_base(a.id, b.id)  # None at run time, whatever the stub says
    if base_id is None:
        trees = spec.replace("...", "..") if "..." in spec else f"{spec}..HEAD"
        raise GitError(f"{spec}: the two revisions have no common ancestor",
                       hint=f"`qwen-review {trees}` compares their trees instead")
    import pygit2

    return repo[base_id].peel(pygit2.Commit)
