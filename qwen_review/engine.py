"""The pipeline: target -> collect -> filter + redact -> chunk -> render -> ask -> parse -> anchor -> report."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_review import output
from qwen_review.diff import is_unchanged
from qwen_review.errors import EXIT_FINDINGS, EXIT_OK, EXIT_PROVIDER, ProviderError, UsageError
from qwen_review.review import (
    FailedUnit,
    Finding,
    ProviderInfo,
    Request,
    Review,
    blocking,
    severity_first,
)
from qwen_review.scrub import public_url
from qwen_review.target import Target, open_repository, resolve

if TYPE_CHECKING:
    import jinja2
    import pygit2

    from qwen_review.config import Settings
    from qwen_review.diff import FileDiff


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
    return ReviewPlan(repo=repo, root=root, target=target, nothing_to_review=is_unchanged(repo, target))


def load_settings(plan: ReviewPlan, *, config_path: Path | None, flags: dict[str, Any],
                  defaults: dict[str, Any] | None = None) -> Settings:
    """Settings for a run in the work tree: flags > environment > config file > `defaults` > built-ins."""
    from qwen_review.config import find_config_file, read_config_file, resolve_settings

    path = config_path if config_path is not None else find_config_file(plan.root, warn=output.warn)
    values = read_config_file(path) if path is not None else {}
    return resolve_settings(values, flags, source=str(path) if path else "settings", defaults=defaults)


def empty_review(plan: ReviewPlan) -> Review:
    review = Review(target=plan.target, provider=ProviderInfo(kind="none"), files=[])
    review.summary = "Nothing to review."
    return review


def templates_loader(plan: ReviewPlan, settings: Settings) -> jinja2.BaseLoader | None:
    """`templates_dir` from the settings, else `.qwen-review/templates/` when the repository has one."""
    from qwen_review.prompts import REPO_TEMPLATES_DIR, directory_loader

    if settings.templates_dir:
        return directory_loader(plan.root / settings.templates_dir)
    default = plan.root / REPO_TEMPLATES_DIR
    return directory_loader(default) if default.is_dir() else None


def collect_files(repo: pygit2.Repository, target: Target, settings: Settings) -> list[FileDiff]:
    """The target's changed files with the run's include/exclude/size rules applied."""
    from qwen_review.diff import CollectOptions, collect
    from qwen_review.filters import PathFilter

    path_filter = PathFilter(
        settings.include, settings.exclude,
        default_excludes=settings.default_excludes, max_file_bytes=settings.max_file_size,
    )
    return collect(repo, target, CollectOptions(skip_reason=path_filter, detect_copies=settings.detect_copies))


def run(plan: ReviewPlan, settings: Settings, *, dry_run: bool, use_cache: bool = True,
        templates: jinja2.BaseLoader | None = None, anchor_target: Target | None = None,
        files: list[FileDiff] | None = None) -> Review:
    """Collect, redact, chunk and render; then ask the model unless it is a dry run.

    `templates` overrides where repository templates come from (pull requests read them from the
    base commit). `anchor_target` anchors the findings against a wider diff than the one reviewed
    (a pull request re-run reviews what changed since the last run, but comments on the whole PR).
    `files` are the target's files when the caller already collected them.
    """
    from qwen_review.anchor import anchor_findings
    from qwen_review.chunking import build_units
    from qwen_review.prompts import PromptRenderer, make_environment
    from qwen_review.redact import redact_files
    from qwen_review.tokens import estimate_tokens

    started = time.monotonic()
    if files is None:
        files = collect_files(plan.repo, plan.target, settings)
    redaction = redact_files(files)
    files = redaction.files  # from here on nothing holds the secrets, reports included
    review = Review(target=plan.target, provider=ProviderInfo(kind="none"), files=files, dry_run=dry_run)
    review.stats.files = len(files)
    review.stats.redactions = redaction.count
    env = make_environment(templates if templates is not None else templates_loader(plan, settings))
    renderer = PromptRenderer(env, language=settings.language, instructions=settings.instructions)
    overhead = estimate_tokens(renderer.overhead_text())
    units, _ = build_units([f for f in files if f.reviewable], max_tokens=settings.max_prompt_tokens,
                           overhead_tokens=overhead)
    review.stats.files_reviewed = len({part.file.path for unit in units for part in unit.files})
    review.stats.units = len(units)
    requests = [
        Request(files=tuple(dict.fromkeys(part.file.path for part in unit.files)),
                estimated_tokens=unit.estimated_tokens + overhead,
                messages=renderer.messages(unit, index, len(units)))
        for index, unit in enumerate(units, start=1)
    ]
    findings = list(redaction.findings)
    summaries: list[str] = []
    if dry_run:
        # DESIGN: a dry run's findings are empty; the secrets it found are counted in stats.redactions.
        review.requests = requests
        findings = []
    elif requests:
        summaries = _ask(review, requests, settings, use_cache=use_cache, findings=findings)
    anchor_files = files
    if anchor_target is not None and findings:  # the wider diff is only needed to pin something
        anchor_files = redact_files(collect_files(plan.repo, anchor_target, settings)).files
    review.findings = anchor_findings(findings, anchor_files)
    review.findings.sort(key=severity_first)
    review.summary = _summary(env, review, summaries)
    review.stats.duration_s = time.monotonic() - started
    return review


def _ask(review: Review, requests: list[Request], settings: Settings, *, use_cache: bool,
         findings: list[Finding]) -> list[str]:
    """Send the units; fill stats, failed units and findings; return the per-unit summaries."""
    from qwen_review.ask import ask_all
    from qwen_review.cache import AnswerCache, cache_key
    from qwen_review.parse import to_findings
    from qwen_review.providers.openai_compat import ChatClient
    from qwen_review.providers.select import select_provider

    try:
        provider = select_provider(forced=settings.provider, model=settings.model, base_url=settings.base_url,
                                   env=os.environ, warn=output.warn)
    except ProviderError as exc:
        # e.g. the OAuth token server is unreachable: like a model that cannot be reached, every unit
        # fails, and --on-error decides the exit code. (A CredentialsError still stops the run: exit 2.)
        review.stats.failed_units = len(requests)
        review.failed_units = [FailedUnit(r.files, exc.message, "provider") for r in requests]
        review.stats.files_reviewed = 0
        return []
    shown_url = public_url(provider.base_url)
    review.provider = ProviderInfo(kind=provider.kind, model=provider.model, base_url=shown_url)
    output.log.info("reviewing %d unit(s) with %s at %s", len(requests), provider.model, shown_url)
    cache = AnswerCache() if use_cache and settings.cache else None
    # Qwen Code's OAuth requests name their auth type; DashScope routes them by it.
    headers = {"X-DashScope-AuthType": "qwen-oauth"} if provider.kind == "qwen-oauth" else {}
    with ChatClient(base_url=provider.base_url, api_key=provider.api_key, model=provider.model,
                    timeout_budget=settings.timeout, refresh_token=provider.refresh, extra_headers=headers,
                    max_connections=max(4, settings.concurrency)) as client, output.progress(len(requests)) as tick:
        results = ask_all(client, requests, concurrency=settings.concurrency, cache=cache,
                          cache_key=cache_key, progress=tick)
    summaries = []
    for result in results:
        stats = review.stats
        stats.llm_calls += result.calls
        stats.prompt_tokens += result.prompt_tokens
        stats.completion_tokens += result.completion_tokens
        stats.cached_units += int(result.cached)
        if result.answer is None:
            stats.failed_units += 1
            review.failed_units.append(FailedUnit(result.request.files, result.error or "no answer",
                                                  result.cause or "provider"))
            continue
        summaries.append(result.answer.summary)
        findings.extend(to_findings(result.answer))
        if result.dropped:
            note = (f"{result.dropped} malformed finding(s) from the model about "
                    f"{', '.join(result.request.files)} were left out ({result.dropped_reason}).")
            output.warn(note)
            summaries.append(note)
    # A file counts as reviewed when at least one of its units got an answer.
    review.stats.files_reviewed = len({path for r in results if r.answer is not None for path in r.request.files})
    fatal = next((r.fatal for r in results if r.fatal is not None), None)
    if fatal is not None and not isinstance(fatal, ProviderError):
        raise fatal  # a credentials problem is exit 2 whatever --on-error says
    return summaries


def _summary(env: jinja2.Environment, review: Review, summaries: list[str]) -> str:
    from qwen_review.prompts import render_summary

    if review.dry_run:
        return f"Dry run: {review.stats.units} unit(s) would be sent for {review.stats.files_reviewed} file(s)."
    if not review.stats.units:
        return "Nothing to review."
    return render_summary(env, summaries=summaries, findings_count=len(review.findings),
                          files_reviewed=review.stats.files_reviewed, units=review.stats.units,
                          failed_units=review.stats.failed_units)


@contextlib.contextmanager
def telemetry(settings: Settings) -> Iterator[Callable[[Review], None]]:
    """Record one run event when telemetry is on (never in CI); failures record their error class."""
    from qwen_review.telemetry import record, run_event, telemetry_state

    enabled, reason = telemetry_state(settings.telemetry, os.environ)
    output.log.info("telemetry %s", reason)
    done: list[Review] = []
    error: BaseException | None = None
    try:
        yield done.append
    except BaseException as exc:
        error = exc
        raise
    finally:
        if enabled:
            review = done[0] if done else None
            event = run_event(
                stats=review.stats if review else object(),
                provider_kind=review.provider.kind if review else (settings.provider or "none"),
                model=review.provider.model if review else settings.model,
                findings=len(review.findings) if review else 0,
                error_classes=[type(error).__name__] if error is not None else [],
            )
            outcome = record(event, enabled=True, env=os.environ)
            if outcome.note:
                output.log.info("telemetry: %s", outcome.note)


def exit_code(review: Review, fail_on: str, on_error: str = "fail") -> int:
    """1 for findings at or above `fail_on`; 3 when no unit got an answer, or when the endpoint failed
    for some of them (a gate must not pass on a partial review); with on_error=warn, a warning instead."""
    if review.failed_units:
        failed = ", ".join(sorted({p for u in review.failed_units for p in u.files}))
        reason = review.failed_units[0].reason
        if review.stats.failed_units >= review.stats.units:
            problem = f"no unit got a valid answer: {reason}"
        elif any(u.cause != "answer" for u in review.failed_units):
            problem = (f"{review.stats.failed_units} of {review.stats.units} units failed "
                       f"({reason}); not reviewed: {failed}")
        else:
            # Only the model's answers were unusable, for some units: the rest of the review stands.
            problem = ""
            output.warn(f"{review.stats.failed_units} of {review.stats.units} units got no valid answer; "
                        f"not reviewed: {failed}")
        if problem and on_error != "warn":
            output.error(problem)
            return EXIT_PROVIDER
        if problem:
            output.warn(f"{problem}; continuing (on_error = warn)")
    return EXIT_FINDINGS if blocking((f.severity for f in review.findings), fail_on) else EXIT_OK


def deliver(review: Review, settings: Settings | None, *, fmt: str, output_path: Path | None,
            templates: jinja2.BaseLoader | None = None) -> int:
    """Render the report, write it to stdout or a file, and return the exit code."""
    from qwen_review.prompts import make_environment
    from qwen_review.report import render

    env = make_environment(templates) if fmt == "markdown" else None
    to_terminal = output_path is None and sys.stdout.isatty()
    text = render(review, fmt, color=to_terminal and output.stdout_color(), wrap=to_terminal, env=env)
    if output_path is not None:
        try:
            output.write_file_atomic(output_path, text)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {output_path}: {exc.strerror or exc}") from exc
        count = len(review.findings)
        output.status(f"wrote the {fmt} report to {output_path} ({count} finding{'s' * (count != 1)})")
    else:
        output.write_stdout(text)
    if settings is None:
        return EXIT_OK
    return exit_code(review, settings.fail_on, settings.on_error)
