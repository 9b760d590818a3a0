"""`qwen-review hook`: review what a git hook is about to let through, with the hooks' own defaults.

The no-op path (nothing staged, nothing new pushed) imports no settings, model client or GitHub
library and reads no credentials: a hook runs on every commit and must cost next to nothing then.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_review import output
from qwen_review.envfiles import load_for_this_process
from qwen_review.errors import EXIT_FINDINGS, EXIT_OK
from qwen_review.review import blocking

if TYPE_CHECKING:
    import pygit2

    from qwen_review.config import Settings
    from qwen_review.diff import FileDiff
    from qwen_review.engine import ReviewPlan
    from qwen_review.hook_push import PushRange

# Below the config file and the environment, so a repository's own settings and the flags still win.
# A serious finding blocks; an unreachable model warns and lets the commit through; and the time
# budget is short, so a model that does not answer costs a commit seconds, not minutes.
HOOK_DEFAULTS: dict[str, Any] = {"fail_on": "high", "on_error": "warn", "timeout": 60.0}

# What git keeps in the git dir while a merge, rebase, cherry-pick or revert waits for its commit.
IN_PROGRESS = (
    ("MERGE_HEAD", "a merge"),
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
)


def run_hook(*, stage: str, git_args: list[str], flags: dict[str, Any], options: dict[str, Any]) -> int:
    """Review the index (pre-commit, manual) or the pushed commits (pre-push); the exit code gates git.

    The pre-commit framework runs one entry at every stage, so a push is recognised by the
    variables it sets (`PRE_COMMIT_FROM_REF`/`PRE_COMMIT_TO_REF`), whatever `stage` says.
    """
    if stage == "pre-push" or is_framework_push(os.environ):
        return _review_push(native=stage == "pre-push" and bool(git_args), git_args=git_args,
                            flags=flags, options=options)
    return _review_index(flags=flags, options=options)


def install_hook(repo_path: Path, *, pre_push: bool, force: bool) -> list[str]:
    """Install the native hook script (see `hook_install.install`); returns the lines to print."""
    from qwen_review.hook_install import install

    return install(repo_path, pre_push=pre_push, force=force)


def uninstall_hook(repo_path: Path, *, pre_push: bool) -> list[str]:
    """Remove the native hook script and restore a `.legacy` one; returns the lines to print."""
    from qwen_review.hook_install import uninstall

    return uninstall(repo_path, pre_push=pre_push)


def is_framework_push(env: Mapping[str, str]) -> bool:
    """pre-commit at pre-push: FROM/TO refs, or only the branch names when the whole history is new."""
    refs = bool(env.get("PRE_COMMIT_FROM_REF") and env.get("PRE_COMMIT_TO_REF"))
    return refs or bool(env.get("PRE_COMMIT_REMOTE_NAME") and env.get("PRE_COMMIT_LOCAL_BRANCH"))


def operation_in_progress(git_dir: Path) -> str | None:
    """'a merge', 'a rebase', ... when git is in the middle of one in this work tree, else None."""
    for name, operation in IN_PROGRESS:
        if (git_dir / name).exists():
            return operation
    return None


def _review_index(*, flags: dict[str, Any], options: dict[str, Any]) -> int:
    from qwen_review import engine

    # The index as git will commit it: `open_repository` honours GIT_INDEX_FILE (commit -a, commit <path>).
    plan = engine.plan_review(repo_path=Path.cwd(), rev=None, staged=True)
    if plan.nothing_to_review:
        return _finish_empty(plan, [], options, reason="nothing staged")
    settings = _settings(plan, flags, options)
    operation = operation_in_progress(Path(plan.repo.path))
    if operation is not None and not settings.review_during_merge:
        # The index then holds the other side's changes too, already reviewed where they were written.
        _say(options, f"{operation} is in progress: not reviewed (set review_during_merge = true to review it)")
        return EXIT_OK
    return _review_plan(plan, settings, options, output_path=options["output_path"], flags=flags, gate="commit")


def _review_push(*, native: bool, git_args: list[str], flags: dict[str, Any], options: dict[str, Any]) -> int:
    from qwen_review import hook_push
    from qwen_review.target import open_repository

    repo = open_repository(Path.cwd())
    ranges = None if native else hook_push.framework_ranges(repo, os.environ)
    if ranges is None:
        pushed = hook_push.parse_pushed_refs(_read_stdin())
        ranges = hook_push.native_ranges(repo, pushed, remote=git_args[0] if git_args else None)
    plans = [_push_plan(repo, pushed_range) for pushed_range in ranges]
    todo = [plan for plan in plans if not plan.nothing_to_review]
    if not todo:
        if not plans:
            _say(options, "nothing to review: no new commits pushed")
            return EXIT_OK
        return _finish_empty(plans[0], [], options, reason="no change in the pushed commits")
    settings = _settings(todo[0], flags, options)
    codes = []
    for index, plan in enumerate(todo):
        _say(options, f"reviewing {plan.target.spec}")
        codes.append(_review_plan(plan, settings, options, flags=flags, gate="push",
                                  output_path=_numbered(options["output_path"], index, len(todo))))
    return max(codes)  # exit codes grow with severity: a blocked ref blocks the push


def _push_plan(repo: pygit2.Repository, pushed: PushRange) -> ReviewPlan:
    import pygit2

    from qwen_review.engine import ReviewPlan
    from qwen_review.target import Target, commits_target

    head = pushed.head
    if pushed.base is not None:
        spec = f"{pushed.ref} {pushed.base[:12]}..{head[:12]}"
        target = commits_target(repo, "range", spec, pushed.base, head)
    else:  # nothing of this history is on the remote: everything is new, against the empty tree
        tree = repo[head].peel(pygit2.Commit).tree_id
        target = Target("range", f"{pushed.ref} {head[:12]} (whole history)", base_commit=None,
                        head_commit=head, base_tree=None, head_tree=tree)
    return ReviewPlan(repo=repo, root=Path(repo.workdir), target=target,
                      nothing_to_review=target.base_tree == target.head_tree)


def _settings(plan: ReviewPlan, flags: dict[str, Any], options: dict[str, Any]) -> Settings:
    from qwen_review import engine

    return engine.load_settings(plan, config_path=options["config_path"], flags=flags, defaults=HOOK_DEFAULTS)


def _review_plan(plan: ReviewPlan, settings: Settings, options: dict[str, Any], *, output_path: Path | None,
                 flags: dict[str, Any], gate: str) -> int:
    """Review one plan; `gate` ("commit" or "push") is what a blocking finding stops."""
    from qwen_review import engine, output
    from qwen_review.errors import CredentialsError

    # Decided before the engine runs, so a change made only of excluded files never builds a model client.
    files = engine.collect_files(plan.repo, plan.target, settings)
    if not any(file.reviewable for file in files):
        return _finish_empty(plan, files, dict(options, output_path=output_path), reason=_skipped_summary(files))
    # Only now, with something to send: the .env files (which hold keys) are read, as `review` reads them.
    if load_for_this_process() is not None:
        settings = _settings(plan, flags, options)
    templates = engine.templates_loader(plan, settings)
    try:
        with engine.telemetry(settings) as record:  # one event per hook run, as for `review` (never in CI)
            review = engine.run(plan, settings, dry_run=options["dry_run"], use_cache=options["use_cache"],
                                templates=templates, files=files)
            record(review)
    except CredentialsError as exc:
        if settings.on_error != "warn":
            raise
        # A teammate without a key (or with an expired login) is told why, and is not blocked.
        output.warn(f"{exc.message}; this change was not reviewed (on_error = warn)")
        return 0
    code = engine.deliver(review, settings, fmt=options["fmt"], output_path=output_path, templates=templates)
    if code == EXIT_FINDINGS:  # said even with -q: a blocked commit must say why
        count = blocking((f.severity for f in review.findings), settings.fail_on)
        # Under the pre-commit framework (it sets PRE_COMMIT=1), SKIP skips this hook alone, not every hook.
        skip = f"SKIP=qwen-review git {gate}" if os.environ.get("PRE_COMMIT") == "1" else f"git {gate} --no-verify"
        output.notice(f"{gate} blocked: {count} finding{'s' * (count != 1)} at or above {settings.fail_on}; "
                      f"fix {'them' if count != 1 else 'it'}, or skip the review once with `{skip}`")
    return code


def _finish_empty(plan: ReviewPlan, files: list[FileDiff], options: dict[str, Any], *, reason: str) -> int:
    """Exit 0 with a notice, or an empty report when a format or an output file was asked for."""
    if options["fmt"] == "text" and options["output_path"] is None:
        _say(options, f"nothing to review: {reason}")
        return EXIT_OK
    from qwen_review import engine

    review = engine.empty_review(plan)
    review.files = files
    return engine.deliver(review, None, fmt=options["fmt"], output_path=options["output_path"])


def _skipped_summary(files: list[FileDiff]) -> str:
    reasons = Counter(file.skipped or "no content change" for file in files)
    return ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))


def _numbered(path: Path | None, index: int, count: int) -> Path | None:
    """One report file per pushed ref when several are pushed: report.json, report.2.json, ..."""
    if path is None or count == 1 or index == 0:
        return path
    return path.with_name(f"{path.stem}.{index + 1}{path.suffix}")


def _read_stdin() -> str:
    """The refs git writes to a pre-push hook; nothing when run by hand from a terminal."""
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    return sys.stdin.read()


def _say(options: dict[str, Any], message: str) -> None:
    if not options.get("quiet"):
        output.notice(message)
