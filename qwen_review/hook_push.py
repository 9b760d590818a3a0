"""Which commits a push sends: the ranges the pre-push hook reviews, from git's stdin or pre-commit's env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwen_review.errors import GitError

if TYPE_CHECKING:
    import pygit2

# Where a remote's default branch is looked for when a branch is pushed for the first time.
DEFAULT_BRANCH_NAMES = ("HEAD", "main", "master")


@dataclass(frozen=True)
class PushRange:
    """One pushed ref: review `base`..`head` (`base` None = the empty tree: the whole history is new)."""

    ref: str
    base: str | None
    head: str


@dataclass(frozen=True)
class PushedRef:
    """One line git writes to a pre-push hook's stdin."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def is_zero(sha: str) -> bool:
    """git's null object id (40 or 64 zeros): a ref that is created or deleted."""
    return not sha.strip("0")


def parse_pushed_refs(text: str) -> list[PushedRef]:
    """`<local ref> <local sha> <remote ref> <remote sha>` per line; a deleted ref's local ref is `(delete)`."""
    pushed = []
    for line in text.splitlines():
        parts = line.rsplit(maxsplit=3)
        if len(parts) != 4:
            if line.strip():
                raise GitError(f"unexpected pre-push input line: {line.strip()!r}")
            continue
        pushed.append(PushedRef(*parts))
    return pushed


def native_ranges(repo: pygit2.Repository, pushed: list[PushedRef], *, remote: str | None) -> list[PushRange]:
    """The range of each pushed ref; deleted refs and refs with nothing new are left out."""
    ranges = []
    for ref in pushed:
        if is_zero(ref.local_sha):
            continue  # a deletion sends no code
        head = _commit_id(repo, ref.local_sha)
        base: str | None
        if not is_zero(ref.remote_sha) and _has_commit(repo, ref.remote_sha):
            merge_base = repo.merge_base(ref.remote_sha, head)
            if merge_base is not None:
                ranges.append(PushRange(ref.remote_ref, str(merge_base), head))
                continue
        found, base = new_branch_base(repo, head, remote=remote)
        if found:
            ranges.append(PushRange(ref.remote_ref, base, head))
    return _unique(ranges)


def framework_ranges(repo: pygit2.Repository, env: Mapping[str, str]) -> list[PushRange] | None:
    """The range pre-commit hands its hooks at pre-push (or `run --from-ref --to-ref`); None when it gave none.

    pre-commit passes `PRE_COMMIT_FROM_REF`/`PRE_COMMIT_TO_REF`, where FROM is the remote's old
    commit, or for a new branch the parent of its first unpushed commit. When it pushes a history
    with no commit on the remote it sets only the branch and remote names.
    """
    from_ref, to_ref = env.get("PRE_COMMIT_FROM_REF"), env.get("PRE_COMMIT_TO_REF")
    remote = env.get("PRE_COMMIT_REMOTE_NAME") or None
    remote_branch = env.get("PRE_COMMIT_REMOTE_BRANCH") or ""
    if from_ref and to_ref:
        head = _commit_id(repo, to_ref)
        if remote and remote_branch and not _remote_has_branch(repo, remote, remote_branch):
            found, base = new_branch_base(repo, head, remote=remote, default_only=True)
            if found:
                return [PushRange(remote_branch, base, head)]
        base_id = _commit_id(repo, from_ref)
        merge_base = repo.merge_base(base_id, head)
        return [PushRange(remote_branch or to_ref, str(merge_base) if merge_base else base_id, head)]
    local_branch = env.get("PRE_COMMIT_LOCAL_BRANCH")
    if remote and local_branch:
        head = _commit_id(repo, local_branch)
        found, base = new_branch_base(repo, head, remote=remote)
        return [PushRange(remote_branch or local_branch, base, head)] if found else []
    return None


def new_branch_base(repo: pygit2.Repository, head: str, *, remote: str | None,
                    default_only: bool = False) -> tuple[bool, str | None]:
    """Base for a branch the remote does not have: the merge base with the default branch, else the
    parent of the first commit no remote-tracking ref contains (None for a root: the whole history).

    Returns (False, None) when every commit is already on the remote: nothing to review.
    """
    for name in _default_branch_refs(remote):
        target = _ref_commit(repo, name)
        if target is None:
            continue
        merge_base = repo.merge_base(target, head)
        if merge_base is not None:
            return True, str(merge_base)
    if default_only:
        return False, None
    return _first_unpushed_parent(repo, head, remote=remote)


def _first_unpushed_parent(repo: pygit2.Repository, head: str, *, remote: str | None) -> tuple[bool, str | None]:
    """`git rev-list <head> --not --remotes=<remote>`: the oldest such commit's parent."""
    import pygit2

    walker = repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    for name in _remote_refs(repo, remote):
        target = _ref_commit(repo, name)
        if target is not None:
            walker.hide(target)
    first = next(iter(walker), None)
    if first is None:
        return False, None
    return True, str(first.parent_ids[0]) if first.parent_ids else None


def _remote_refs(repo: pygit2.Repository, remote: str | None) -> list[str]:
    """The remote's tracking refs; every remote's when it has none (a push to a URL names no remote)."""
    names = [name for name in repo.references if name.startswith("refs/remotes/")]
    own = [name for name in names if remote and name.startswith(f"refs/remotes/{remote}/")]
    return own or names


def _default_branch_refs(remote: str | None) -> list[str]:
    remotes = [remote, "origin"] if remote and remote != "origin" and "/" not in remote else ["origin"]
    return [f"refs/remotes/{r}/{name}" for r in remotes for name in DEFAULT_BRANCH_NAMES]


def _remote_has_branch(repo: pygit2.Repository, remote: str, remote_branch: str) -> bool:
    short = remote_branch.removeprefix("refs/heads/")
    return _ref_commit(repo, f"refs/remotes/{remote}/{short}") is not None


def _ref_commit(repo: pygit2.Repository, name: str) -> str | None:
    """The commit a (possibly symbolic) ref points at, or None when it does not exist."""
    import pygit2

    try:
        return str(repo.lookup_reference(name).resolve().peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None


def _has_commit(repo: pygit2.Repository, sha: str) -> bool:
    """False when the remote's commit is not here (someone else pushed it and it was not fetched)."""
    import pygit2

    try:
        repo[sha].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return False
    return True


def _commit_id(repo: pygit2.Repository, rev: str) -> str:
    import pygit2

    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise GitError(f"pushed revision not found: {rev!r}") from exc


def _unique(ranges: list[PushRange]) -> list[PushRange]:
    """Two refs pushing the same commits are reviewed once."""
    seen: set[tuple[str | None, str]] = set()
    unique = []
    for item in ranges:
        if (item.base, item.head) not in seen:
            seen.add((item.base, item.head))
            unique.append(item)
    return unique
