"""The pipeline: target -> collect -> filter + redact -> chunk -> render -> ask -> parse -> anchor -> report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_review import output
from qwen_review.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from qwen_review.review import ProviderInfo, Review, severity_rank
from qwen_review.target import Target, open_repository, resolve

if TYPE_CHECKING:
    import pygit2

    from qwen_review.config import Settings


@dataclass(frozen=True)
class ReviewPlan:
    """An opened repository and a resolved target, before any setting is read."""

    repo: pygit2.Repository
    root: Path
    target: Target
    nothing_to_review: bool


def plan_review(*, repo_path: Path, rev: str | None, staged: bool) -> ReviewPlan:
    repo = open_repository(repo_path)
    target = resolve(repo, rev, staged=staged)
    root = Path(repo.workdir)
    return ReviewPlan(repo=repo, root=root, target=target, nothing_to_review=_unchanged(repo, target))


def _unchanged(repo: pygit2.Repository, target: Target) -> bool:
    """True when the two sides are identical; decided from tree ids or deltas, with no patch text."""
    if target.head_tree is not None:
        return target.base_tree == target.head_tree
    import pygit2

    base = target.base_tree if target.base_tree is not None else repo.TreeBuilder().write()
    tree = repo[base].peel(pygit2.Tree)
    return len(repo.index.diff_to_tree(tree)) == 0


def load_settings(plan: ReviewPlan, *, config_path: Path | None, flags: dict[str, Any]) -> Settings:
    from qwen_review.config import find_config_file, read_config_file, resolve_settings

    path = config_path if config_path is not None else find_config_file(plan.root)
    values = read_config_file(path) if path is not None else {}
    return resolve_settings(values, flags, source=str(path) if path else "settings")


def empty_review(plan: ReviewPlan) -> Review:
    review = Review(target=plan.target, provider=ProviderInfo(kind="none"), files=[])
    review.summary = "Nothing to review."
    return review


def run(plan: ReviewPlan, settings: Settings, *, dry_run: bool, use_cache: bool = True) -> Review:
    from qwen_review.diff import CollectOptions, collect
    from qwen_review.filters import PathFilter

    started = time.monotonic()
    path_filter = PathFilter(
        settings.include, settings.exclude,
        default_excludes=settings.default_excludes, max_file_bytes=settings.max_file_size,
    )
    files = collect(plan.repo, plan.target,
                    CollectOptions(skip_reason=path_filter, detect_copies=settings.detect_copies))
    review = Review(target=plan.target, provider=ProviderInfo(kind="none"), files=files, dry_run=dry_run)
    review.stats.files = len(files)
    reviewable = [f for f in files if f.reviewable]
    review.stats.files_reviewed = len(reviewable)
    if not reviewable:
        review.summary = "Nothing to review."
    review.stats.duration_s = time.monotonic() - started
    return review


def exit_code(review: Review, fail_on: str) -> int:
    threshold = severity_rank(fail_on)
    if threshold < 0:
        return EXIT_OK
    worst = max((severity_rank(f.severity) for f in review.findings), default=-1)
    return EXIT_FINDINGS if worst >= threshold else EXIT_OK


def deliver(review: Review, settings: Settings | None, *, fmt: str, output_path: Path | None, quiet: bool) -> int:
    """Render the report, write it to stdout or a file, and return the exit code."""
    from qwen_review.report import render

    text = render(review, fmt, color=output_path is None and output.stdout_color())
    if output_path is not None:
        try:
            output.write_file_atomic(output_path, text)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {output_path}: {exc.strerror or exc}") from exc
    else:
        output.write_stdout(text)
    return exit_code(review, settings.fail_on if settings else "none")
