"""`qwen-review github`: review the pull request of a GitHub Actions event and publish the findings.

The order matters for safety: the event decides what is reviewed; the diff is read from git
objects (or GitHub's patches), never by running anything from the pull request; the config and
templates come from the base commit; and nothing is written to the pull request in a dry run or
when a fork's run has no model credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_review import output
from qwen_review.errors import EXIT_FINDINGS, EXIT_OK, EXIT_PROVIDER, PublishError, QwenReviewError
from qwen_review.github_client import GitHubTokenError
from qwen_review.pr_actions import annotate, append_step_summary, step_summary_report, write_outputs
from qwen_review.pr_event import PullRequestRef, RunnerEnv, Skip, pull_request_of, read_payload
from qwen_review.pr_state import OpenFinding, SummaryState
from qwen_review.pr_summary import fingerprint_of
from qwen_review.review import blocking, highest_severity

if TYPE_CHECKING:
    import jinja2

    from qwen_review.config import Settings
    from qwen_review.github import PublishResult
    from qwen_review.github_client import GitHubClient
    from qwen_review.pr_source import ReviewSource
    from qwen_review.review import Review

FORK_NOTICE = ("pull request #{number} comes from a fork (or Dependabot) and this run has no model credentials "
               "(GitHub passes no secrets to such runs): not reviewed, nothing posted. "
               "See docs/github-action.md, \"Forks and secrets\".")


def run_github(*, event_path: Path | None, pr_number: int | None, flags: dict[str, Any],
               options: dict[str, Any]) -> int:
    """Review the event's pull request and publish the findings; returns the exit code."""
    from qwen_review.pr_event import runner_env

    runner = runner_env(os.environ)
    try:
        return _run(runner, event_path=event_path, pr_number=pr_number, flags=flags, options=options)
    except QwenReviewError as exc:
        annotate("error", runner.scrub(exc.message))  # the CLI prints the message and hint on stderr too
        raise


def _run(runner: RunnerEnv, *, event_path: Path | None, pr_number: int | None, flags: dict[str, Any],
         options: dict[str, Any]) -> int:
    pull = pull_request_of(runner, read_payload(event_path, os.environ), pr_number=pr_number)
    if isinstance(pull, Skip):
        return _skip(runner, pull.reason, options)
    dry_run = bool(options["dry_run"])
    if pull.fork and not dry_run and not _has_provider(flags):
        return _skip(runner, FORK_NOTICE.format(number=pull.number), options)
    with contextlib.ExitStack() as stack:
        client = _connect(runner, dry_run=dry_run)
        if client is not None:
            stack.enter_context(client)
        if pull.from_api:
            if client is None:
                raise GitHubTokenError("a dry run given only a pull request number needs GITHUB_TOKEN to read it",
                                       status=None)
            pull = _from_api(client, pull)
        if pull.fork and not dry_run and not _has_provider(flags):
            code = _skip(runner, FORK_NOTICE.format(number=pull.number), options)
        else:
            code = _review(runner, stack, client, pull, flags=flags, options=options)
    return code


def _review(runner: RunnerEnv, stack: contextlib.ExitStack, client: GitHubClient | None, pull: PullRequestRef,
            *, flags: dict[str, Any], options: dict[str, Any]) -> int:
    from qwen_review import engine
    from qwen_review.config import resolve_settings
    from qwen_review.github import read_previous_review
    from qwen_review.pr_base import base_config, base_templates
    from qwen_review.pr_source import open_source
    from qwen_review.prompts import make_environment

    assert pull.base_sha is not None and pull.head_sha is not None
    previous = SummaryState()
    if client is not None:
        previous = read_previous_review(client, repository=pull.repository, number=pull.number, author=runner.login)
    root = Path.cwd()
    source = open_source(stack, root=root, repository=pull.repository, number=pull.number, base=pull.base_sha,
                         head=pull.head_sha, last_head=previous.head_sha, client=client,
                         scrub=runner.scrub, dry_run=bool(options["dry_run"]))
    config = base_config(source.base_repo, pull.base_sha, root=root, config_path=options["config_path"])
    if source.base_repo is None and options["config_path"] is None:
        output.warn(f"the base commit {pull.base_sha[:12]} is not in the checkout: the repository's config and "
                    "templates are not used (built-in defaults, the environment and flags apply)")
    settings = resolve_settings(config.values, flags, source=config.source)
    if pull.draft and not settings.review_drafts:
        return _skip(runner, f"pull request #{pull.number} is a draft: not reviewed (set review_drafts = true "
                             "in the base branch's config to review drafts)", options)
    loader = base_templates(source.base_repo, pull.base_sha, root=root, templates_dir=settings.templates_dir)
    env = make_environment(loader)
    with engine.telemetry(settings) as record:
        review = engine.run(source.plan, settings, dry_run=bool(options["dry_run"]), use_cache=options["use_cache"],
                            templates=loader, anchor_target=source.anchor_target)
        record(review)
    _say(options, f"pull request #{pull.number}: {source.note}")  # after the run: the note says "reviewed"
    summary = _summary_text(review, source)
    result: PublishResult | None = None
    failure: PublishError | None = None
    standing: tuple[OpenFinding, ...] | None = None  # what counts for the pull request, when known
    if options["dry_run"]:
        _show_dry_run(previous)
    elif source.since == pull.head_sha:
        # A re-run on the same head: the comment already says everything; what it counted still counts.
        _say(options, "no new commits since the last review: the summary comment is left as it is")
        standing = previous.open if previous.open_known else None  # an older state knew its listed ones only
    elif review.stats.units and review.stats.failed_units >= review.stats.units:
        output.warn("no unit got an answer: nothing posted, so the next run reviews this head again")
    else:
        failure, result = _publish(client, pull, review, summary, settings, env, source, runner, options)
        standing = result.open if result is not None else None
    _report_to_runner(runner, review, env, result, failure, standing, full_report=options["output_path"])
    code = engine.deliver(review, settings, fmt=options["fmt"], output_path=options["output_path"], templates=loader)
    if code == EXIT_PROVIDER and review.failed_units:
        annotate("error", f"no unit got a valid answer from the model: {review.failed_units[0].reason}")
    if standing is not None and code in (EXIT_OK, EXIT_FINDINGS):
        code = _gate(standing, review, settings.fail_on, options)
    return _with_publish_failure(code, failure, pull=pull, settings=settings)


def _gate(standing: tuple[OpenFinding, ...], review: Review, fail_on: str, options: dict[str, Any]) -> int:
    """`fail_on` judges the pull request as it stands: earlier findings still count until fixed (`_still_open`).

    Otherwise a re-run, or a push that changes other code, would pass a check that a finding
    nobody fixed had failed.
    """
    current = {fingerprint_of(f) for f in review.findings}
    earlier = blocking((o.severity for o in standing if o.fingerprint not in current), fail_on)
    if earlier:
        _say(options, f"{earlier} finding(s) at or above {fail_on} from earlier runs still stand (not fixed since)")
    return EXIT_FINDINGS if blocking((o.severity for o in standing), fail_on) else EXIT_OK


def _has_provider(flags: dict[str, Any]) -> bool:
    """Whether a model credential is set for this run (an empty secret, as a fork's run gets, is none)."""
    from qwen_review.providers.select import configured_source

    return configured_source(os.environ, forced=flags.get("provider")) is not None


def _connect(runner: RunnerEnv, *, dry_run: bool) -> GitHubClient | None:
    """The API client; a dry run without a token reads nothing from GitHub instead of failing."""
    from qwen_review.github_client import connect

    if not runner.token and dry_run:
        output.notice("dry run without GITHUB_TOKEN: the pull request's earlier review is not read")
        return None
    return connect(token=runner.token, api_url=runner.api_url)


def _from_api(client: GitHubClient, pull: PullRequestRef) -> PullRequestRef:
    from qwen_review.github import get_pull_request

    info = get_pull_request(client, repository=pull.repository, number=pull.number)
    return dataclasses.replace(pull, base_sha=info.base_sha, head_sha=info.head_sha, draft=info.draft,
                               fork=info.head_repository != pull.repository)


def _publish(client: GitHubClient | None, pull: PullRequestRef, review: Review, summary: str, settings: Settings,
             env: jinja2.Environment, source: ReviewSource, runner: RunnerEnv, options: dict[str, Any]
             ) -> tuple[PublishError | None, PublishResult | None]:
    from qwen_review.github import publish_review
    from qwen_review.pr_diff import commentable_lines_from_patches

    assert client is not None and pull.head_sha is not None
    # GitHub's view of the diff decides where comments go; publish_review reads it when not given.
    commentable = commentable_lines_from_patches(source.pr_files) if source.pr_files is not None else None
    try:
        result = publish_review(client, repository=pull.repository, number=pull.number, head_sha=pull.head_sha,
                                findings=review.findings, summary_markdown=summary,
                                max_inline_comments=settings.max_inline_comments, commentable=commentable,
                                env=env, author=runner.login, keep_previous_head=bool(review.failed_units),
                                still_open=_still_open(review, source, pull))
    except PublishError as exc:
        return exc, None
    posted = f"{result.inline_posted} inline comment(s)" if result.review_url else "no new inline comment"
    _say(options, f"posted {posted}; summary comment {'created' if result.comment_created else 'updated'}: "
             f"{result.comment_url}")
    return None, result


def _still_open(review: Review, source: ReviewSource, pull: PullRequestRef) -> Callable[[OpenFinding], bool]:
    """Whether an earlier run's finding still stands after this run.

    A file this run did not review (not in its diff, or in a unit that failed) keeps its findings.
    A full review looked at every line again, so what it found is all that counts. An incremental
    one saw only the new hunks: an earlier finding in a file it touched stands while the code it
    quoted is still in the file at the new head (one without a quote cannot be checked, and goes).
    """
    failed = {path for unit in review.failed_units for path in unit.files}
    reviewed = frozenset({f.path for f in review.files} | {f.old_path for f in review.files}) - failed
    if source.since is None:
        return lambda finding: finding.path not in reviewed
    texts: dict[str, str | None] = {}

    def still_open(finding: OpenFinding) -> bool:
        if finding.path not in reviewed:
            return True
        if not finding.quote:
            return False
        if finding.path not in texts:
            texts[finding.path] = _text_at(source, pull.head_sha or "", finding.path)
        text = texts[finding.path]
        return text is None or finding.quote in text  # None: the file cannot be read, so it stands

    return still_open


def _text_at(source: ReviewSource, commit: str, path: str) -> str | None:
    """The file at `commit`, whitespace collapsed as quotes are; "" when it is gone, None when unreadable."""
    import pygit2

    from qwen_review.anchor import normalise

    repo = source.plan.repo
    try:
        tree = repo[commit].peel(pygit2.Commit).tree
    except (KeyError, ValueError, pygit2.GitError):
        return None
    if path not in tree:
        return ""
    blob = repo[tree[path].id]
    return normalise(blob.data.decode("utf-8", "replace")) if isinstance(blob, pygit2.Blob) else ""


def _with_publish_failure(code: int, failure: PublishError | None, *, pull: PullRequestRef,
                          settings: Settings) -> int:
    """Exit 3 for a publishing failure (a warning with --on-error warn), exit 2 for a token that cannot write,
    a notice for a fork's read-only token."""
    if failure is None:
        return code
    status = getattr(failure, "status", None)
    if pull.fork and status in (403, 404):
        message = (f"the token cannot write to pull request #{pull.number} (a fork's run gets a read-only token); "
                   "the review is in the step summary only")
        output.notice(message)
        annotate("notice", message)
        return code
    # A token without the permission is the workflow's configuration, not a failure: --on-error warn leaves it an error.
    if settings.on_error == "warn" and failure.exit_code == EXIT_PROVIDER:
        output.warn(f"{failure.message}; continuing because of --on-error warn")
        annotate("warning", failure.message)
        return code
    output.error(failure.message, failure.hint)
    annotate("error", failure.message)
    return max(code, failure.exit_code)


def _summary_text(review: Review, source: ReviewSource) -> str:
    """The overall summary for the PR comment: the model's summary, how much was reviewed, what was not."""
    parts = [review.summary.strip()] if review.stats.units or source.since is None else []
    parts.append(f"_qwen-review {source.note}._")
    if review.failed_units:
        files = ", ".join(sorted({f"`{path}`" for unit in review.failed_units for path in unit.files}))
        # The summary keeps the last completely reviewed head (publish_review), so these come back.
        parts.append(f"Not reviewed (the model gave no valid answer): {files}; the next run reviews them again.")
    return "\n\n".join(part for part in parts if part)


def _show_dry_run(previous: SummaryState) -> None:
    """What a dry run leaves out, on stderr: it has no findings (no model call), so it plans no comment."""
    earlier = len(previous.listed)
    kept = f"; the summary comment keeps listing {earlier} finding(s) of earlier runs" if earlier else ""
    output.notice(f"dry run: no model called and nothing written to GitHub{kept}")


def _report_to_runner(runner: RunnerEnv, review: Review, env: jinja2.Environment, result: PublishResult | None,
                      failure: PublishError | None, standing: tuple[OpenFinding, ...] | None, *,
                      full_report: Path | None = None) -> None:
    """The Markdown report in the step summary; the findings that stand (this run's when unknown), their
    highest severity and the comment URL as outputs."""
    text = ""  # after the report, which step_summary_report keeps under GitHub's size limit
    if standing is not None and len(standing) > len(review.findings):
        text += (f"\n\n{len(standing)} finding(s) stand on the pull request, counting earlier runs' that are "
                 f"not fixed since (highest: {highest_severity(o.severity for o in standing)}).")
    if result is not None:
        text += f"\n\nSummary comment: {result.comment_url}"
    elif failure is not None:
        text += f"\n\n**Not posted to the pull request**: {runner.scrub(failure.message)}"
    append_step_summary(runner.step_summary,
                        step_summary_report(review, env=env, footer=text, full_report=full_report))
    write_outputs(runner.output, {"findings": str(len(review.findings) if standing is None else len(standing)),
                                  "highest-severity": review.highest_severity() if standing is None
                                  else highest_severity(o.severity for o in standing),
                                  "comment-url": result.comment_url if result is not None else ""})


def _skip(runner: RunnerEnv, reason: str, options: dict[str, Any]) -> int:
    """Exit 0 with a notice in the log, the annotations and the step summary; outputs say nothing was found."""
    _say(options, reason)
    annotate("notice", reason)
    append_step_summary(runner.step_summary, f"### qwen-review\n\n{reason}")
    write_outputs(runner.output, {"findings": "0", "highest-severity": "none", "comment-url": ""})
    return EXIT_OK


def _say(options: dict[str, Any], message: str) -> None:
    if not options.get("quiet"):
        output.notice(message)
