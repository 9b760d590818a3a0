"""What a pull request run reviews: the local history when it can be had, else GitHub's patches."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_review import output
from qwen_review.errors import GitError, PublishError

if TYPE_CHECKING:
    import pygit2

    from qwen_review.engine import ReviewPlan
    from qwen_review.github_client import GitHubClient
    from qwen_review.pr_diff import PRFile
    from qwen_review.target import Target


@dataclass(frozen=True)
class ReviewSource:
    """The plan to run, the wider diff to anchor on, and where the base commit's files can be read."""

    plan: ReviewPlan
    anchor_target: Target | None  # the whole PR when only the commits since the last review are reviewed
    base_repo: pygit2.Repository | None  # holds the base commit (config, templates); None: not available
    since: str | None  # the last reviewed head, when only what came after it is reviewed
    pr_files: list[PRFile] | None  # GitHub's files, when they were read (the fallback)
    note: str  # one line for the log and the summary comment


def open_source(stack: contextlib.ExitStack, *, root: Path, repository: str, number: int, base: str, head: str,
                last_head: str | None, client: GitHubClient | None, scrub: Callable[[str], str],
                dry_run: bool = False) -> ReviewSource:
    """`merge-base(base, head)..head` from the checkout (fetching what is missing), or GitHub's patches.

    With `last_head` an ancestor of `head` that forked from the base branch where `head` does, only
    `last_head..head` is reviewed and the findings are anchored on the whole pull request. Otherwise
    (a force-push dropped it, or the base branch was merged in) everything is reviewed again; the
    fingerprints keep findings already posted from being posted twice. `dry_run` words the note as what
    would be reviewed: nothing is sent to a model then.
    """
    from qwen_review.engine import ReviewPlan
    from qwen_review.pr_fetch import ensure_history, has_commit, is_ancestor
    from qwen_review.pr_fetch import merge_base as find_merge_base
    from qwen_review.target import commits_target

    try:
        history = ensure_history(root, base, head, number=number, scrub=scrub)
    except GitError as exc:  # not a repository: no actions/checkout step, say
        output.log.info("no usable checkout (%s)", exc.message)
        history = None
    if history is None:
        return _from_patches(stack, root=root, repository=repository, number=number, base=base, head=head,
                             client=client, dry_run=dry_run)
    repo, merge_base = history.repo, history.merge_base
    whole = commits_target(repo, "pull_request", f"#{number} {merge_base[:12]}..{head[:12]}", merge_base, head)
    same_fork = bool(last_head) and find_merge_base(repo, base, last_head or "") == merge_base
    # After a merge of the base branch, `last_head..head` would hold everything the base branch gained:
    # the incremental path needs the last reviewed head to branch off where the pull request does now.
    if last_head and last_head != merge_base and same_fork and is_ancestor(repo, last_head, head):
        target = commits_target(repo, "pull_request", f"#{number} {last_head[:12]}..{head[:12]}", last_head, head)
        note = (f"no new commits since the last review of `{head[:12]}`" if last_head == head else
                f"{_verb(dry_run)} the commits since the last review: `{last_head[:12]}..{head[:12]}`")
        plan = ReviewPlan(repo=repo, root=root, target=target, nothing_to_review=target.base_tree == target.head_tree)
        return ReviewSource(plan, whole, repo, last_head, None, note)
    note = f"{_verb(dry_run)} the whole pull request: `{merge_base[:12]}..{head[:12]}`"
    if last_head and not has_commit(repo, last_head):
        note += f" (the last reviewed head `{last_head[:12]}` is not in the checkout)"
    elif last_head and is_ancestor(repo, last_head, head) and not same_fork:
        note += f" (the base branch was merged in, or the base changed, since the review of `{last_head[:12]}`)"
    elif last_head:
        note += f" (the last reviewed head `{last_head[:12]}` is no longer part of it)"
    plan = ReviewPlan(repo=repo, root=root, target=whole, nothing_to_review=whole.base_tree == whole.head_tree)
    return ReviewSource(plan, None, repo, None, None, note)


def _verb(dry_run: bool) -> str:
    return "would review" if dry_run else "reviewed"


def _from_patches(stack: contextlib.ExitStack, *, root: Path, repository: str, number: int, base: str, head: str,
                  client: GitHubClient | None, dry_run: bool) -> ReviewSource:
    from qwen_review.engine import ReviewPlan
    from qwen_review.github import fetch_pull_files
    from qwen_review.pr_patches import patch_trees
    from qwen_review.target import Target

    if client is None:
        raise GitError(f"the checkout lacks the pull request's commits ({base[:12]}, {head[:12]}) and cannot fetch "
                       "them, and without a GitHub token its files cannot be read from the API",
                       hint="set GITHUB_TOKEN, or check out with `fetch-depth: 0`")
    try:
        files = fetch_pull_files(client, repository=repository, number=number)
    except PublishError as exc:
        raise GitError(f"the checkout lacks the pull request's commits and GitHub's file list failed: {exc.message}",
                       hint=exc.hint) from exc
    trees = stack.enter_context(patch_trees(files))
    if trees.unavailable:
        output.warn(f"GitHub shows no patch for {len(trees.unavailable)} file(s) (binary or too large); "
                    f"not reviewed: {', '.join(trees.unavailable[:10])}")
    target = Target("pull_request", f"#{number} {base[:12]}...{head[:12]}", base_commit=base, head_commit=head,
                    base_tree=trees.base_tree, head_tree=trees.head_tree)
    plan = ReviewPlan(repo=trees.repo, root=root, target=target,
                      nothing_to_review=trees.base_tree == trees.head_tree)
    what = "would review GitHub's patches" if dry_run else "reviewed from GitHub's patches"
    note = f"{what}: the checkout lacks the pull request's commits and could not fetch them"
    return ReviewSource(plan, None, _local_base(root, base), None, files, note)


def _local_base(root: Path, base: str) -> pygit2.Repository | None:
    """The checkout, when it holds the base commit (a `pull_request_target` checkout does)."""
    from qwen_review.pr_fetch import has_commit
    from qwen_review.target import open_repository

    try:
        repo = open_repository(root)
    except GitError:
        return None
    return repo if has_commit(repo, base) else None
