"""Command line: parse arguments, build settings, call the pipeline, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from qwen_review import __version__, output
from qwen_review.envfiles import load_for_this_process
from qwen_review.errors import EXIT_INTERRUPTED, EXIT_PROVIDER, EXIT_USAGE, QwenReviewError, UsageError
from qwen_review.hooks import HOOK_DEFAULTS
from qwen_review.review import SEVERITIES

if TYPE_CHECKING:
    from qwen_review.config import Settings

COMMANDS = ("review", "github", "auth", "install-hook", "uninstall-hook", "templates", "hook")
FORMATS = ("text", "json", "markdown", "sarif")
LEVELS = ("none", *SEVERITIES)

REVIEW_EPILOG = """\
revision forms:
  (none)          the staged changes: the index against HEAD (the empty tree on an unborn branch)
                    qwen-review
  REV             what HEAD has that REV has not: merge-base(REV, HEAD) against HEAD
                    qwen-review HEAD~1        the last commit
                    qwen-review main          this branch's own changes, as a pull request shows them
  COMMIT^!        that one commit against its first parent (a root commit against the empty tree)
                    qwen-review 3f2a9c1^!
  A..B            the tree of A against the tree of B
                    qwen-review v1.2.0..v1.3.0
  A...B           merge-base(A, B) against B
                    qwen-review main...feature

exit codes:
  0    done; no finding at or above --fail-on
  1    findings at or above --fail-on
  2    usage, configuration or input error (not a repository, unknown revision,
       no provider configured, bad config)
  3    provider or publishing failure after retries, or no unit got a valid answer
       (with --on-error warn: a warning on stderr and 0)
  130  interrupted

Configuration: .qwen-review.toml or [tool.qwen-review] in pyproject.toml at the
repository root; flags > environment > config file > defaults.
"""

TOP_DESCRIPTION = "Review git changes with a Qwen (or any OpenAI-compatible) model."

TOP_EPILOG = """\
examples:
  qwen-review                 review the staged changes
  qwen-review HEAD~1          review the last commit
  qwen-review main            review this branch's own changes, as a pull request shows them
  qwen-review install-hook    review every commit before it is made

`review` is the default command. Run `qwen-review review --help` for the revision forms,
every review option and the exit codes.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-review", description=TOP_DESCRIPTION, epilog=TOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qwen-review {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    review = commands.add_parser(
        "review", help="review changes (default)", epilog=REVIEW_EPILOG,
        description="Review a revision, a range or the staged changes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review.add_argument("rev", nargs="?", metavar="REV", help="revision or range (see below); default: staged changes")
    review.add_argument("--staged", action="store_true", help="review the staged changes (index against HEAD)")
    _add_run_options(review)

    github = commands.add_parser(
        "github", help="review a GitHub pull request (what action.yml runs)",
        description="Review the pull request of a GitHub Actions event and publish the findings: one summary "
                    "comment edited in place and one review with inline comments. Reads GITHUB_EVENT_PATH, "
                    "GITHUB_EVENT_NAME, GITHUB_REPOSITORY, GITHUB_API_URL and GITHUB_TOKEN. Config and "
                    "templates come from the pull request's base commit.",
    )
    github.add_argument("--event-path", type=Path, metavar="PATH", help="the event JSON (default: $GITHUB_EVENT_PATH)")
    github.add_argument("--pr", type=int, metavar="N", help="pull request number (workflow_dispatch)")
    _add_run_options(github)

    hook = commands.add_parser(
        "hook", help="run as a git hook (used by hooks/ and .pre-commit-hooks.yaml)",
        description="Review what a git hook is about to let through: the staged changes at pre-commit, "
                    "the pushed commits at pre-push. Its defaults (below) let an unreachable model warn rather "
                    "than block; the repository's config file still wins over them.",
    )
    hook.add_argument("stage", choices=("pre-commit", "pre-push", "manual"), help="the hook stage")
    hook.add_argument("git_args", nargs="*", metavar="ARG", help="what git passes the hook (pre-push: remote name and URL)")
    _add_run_options(hook, HOOK_DEFAULTS)

    install = commands.add_parser("install-hook", help="install the native git hook",
                                  description="Install qwen-review as this repository's pre-commit (or pre-push) hook. "
                                              "An existing hook is kept as <hook>.legacy and still run.")
    install.add_argument("--pre-push", action="store_true", help="install the pre-push hook instead")
    install.add_argument("--force", action="store_true",
                         help="install even when core.hooksPath is set (into that directory)")
    uninstall = commands.add_parser("uninstall-hook", help="remove the native git hook (restoring a .legacy one)",
                                    description="Remove the hook install-hook installed; a hook it had kept "
                                                "as <hook>.legacy is put back.")
    uninstall.add_argument("--pre-push", action="store_true", help="remove the pre-push hook instead")

    auth = commands.add_parser("auth", help="which provider a run uses; Qwen OAuth login and logout",
                               description="Show which model provider a run would use (API key or Qwen OAuth), "
                                           "and manage the Qwen OAuth login shared with Qwen Code "
                                           "(~/.qwen/oauth_creds.json, or $QWEN_HOME/oauth_creds.json).")
    auth_commands = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    auth_commands.add_parser(
        "login", help="log in with the device flow (needs a terminal; not in CI)",
        description="Log in to Qwen with the OAuth device flow: open the printed link, approve, and the login "
                    "is saved to ~/.qwen/oauth_creds.json (mode 0600), shared with Qwen Code. Needs a terminal; "
                    "refused in CI, where QWEN_OAUTH_REFRESH_TOKEN is the way. QWEN_OAUTH_BASE_URL points it at "
                    "another server. Qwen's free OAuth tier ended on 2026-04-15 (docs/providers.md).")
    auth_commands.add_parser(
        "logout", help="remove the stored Qwen OAuth credentials",
        description="Delete ~/.qwen/oauth_creds.json: this also logs Qwen Code out. A login in the "
                    "environment (QWEN_OAUTH_REFRESH_TOKEN, QWEN_OAUTH_CREDS) is not touched; it is named if set.")
    status = auth_commands.add_parser(
        "status", help="show the provider, model, endpoint host, token expiry, whose terms apply and "
                       "whether telemetry is on",
        description="Show what a run would use, without calling anything and without printing any token. "
                    "Exit 0 when a provider is configured, 2 when a run would stop for the lack of one.")
    status.add_argument("--provider", choices=("openai", "qwen-oauth"), help="the provider to describe")
    status.add_argument("--model", help="the model to describe")
    status.add_argument("--base-url", help="the endpoint to describe")

    templates = commands.add_parser("templates", help="work with the prompt templates")
    templates_commands = templates.add_subparsers(dest="templates_command", metavar="ACTION", required=True)
    export = templates_commands.add_parser("export", help="copy the default templates into DIR to customise them")
    export.add_argument("directory", type=Path, metavar="DIR",
                        help="where to copy them (created if missing; an existing template is never overwritten); "
                             "point templates_dir at it, or use .qwen-review/templates")
    return parser


def _add_run_options(parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None) -> None:
    """The options of every reviewing command; `defaults` are the command's own (the hooks'), shown in help."""
    shown = {"fail_on": "none", "on_error": "fail", "timeout": 300.0, **(defaults or {})}
    parser.add_argument("--dry-run", action="store_true",
                        help="do everything except call the model; the report shows exactly what would be sent")
    parser.add_argument("-f", "--format", choices=FORMATS,
                        help="report format (default: from the extension of -o: .json, .sarif, .md; else text)")
    parser.add_argument("-o", "--output", type=Path, metavar="PATH",
                        help="write the report to PATH instead of stdout (missing directories are created)")
    parser.add_argument("--fail-on", choices=LEVELS,
                        help=f"exit 1 when a finding is at or above LEVEL (default: {shown['fail_on']})")
    parser.add_argument("--on-error", choices=("fail", "warn"),
                        help="what a provider failure does: fail (exit 3) or warn (a warning, exit 0) "
                             f"(default: {shown['on_error']})")
    parser.add_argument("--provider", choices=("openai", "qwen-oauth"), help="force a provider instead of detecting it")
    parser.add_argument("--model", help="model name (default: QWEN_REVIEW_MODEL, OPENAI_MODEL, QWEN_MODEL, config, "
                                        "a Qwen coder model)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL, config, DashScope; "
                                           "a Qwen OAuth token only ever goes to the endpoint it names)")
    parser.add_argument("--include", action="append", metavar="GLOB", help="review only paths matching GLOB (repeatable)")
    parser.add_argument("--exclude", action="append", metavar="GLOB", help="do not review paths matching GLOB (repeatable)")
    parser.add_argument("--config", type=Path, metavar="PATH", help="config file (default: .qwen-review.toml or pyproject.toml)")
    parser.add_argument("--instructions", metavar="TEXT", help="extra review instructions for the model")
    parser.add_argument("--language", metavar="LANG", help="language of the review text, e.g. zh-CN")
    parser.add_argument("--concurrency", type=int, metavar="N", help="model requests in flight at once (default: 4)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help=f"time budget for the model calls of a run (default: {shown['timeout']:g})")
    parser.add_argument("--no-cache", action="store_true", help="do not reuse or store cached model answers")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print only errors and the report")
    verbosity.add_argument("-v", "--verbose", action="count", default=0, help="more detail on stderr (-vv: debug)")


def _normalise_argv(argv: list[str]) -> list[str]:
    """`review` is the default command: `qwen-review HEAD~1` means `qwen-review review HEAD~1`."""
    if not argv:
        return ["review"]
    first = argv[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return ["review", *argv]


def run() -> NoReturn:
    """The console script (and `python -m qwen_review`): `main()`, then leave.

    After Ctrl-C, a model call still in flight sits in a worker thread that the interpreter
    would join at exit, waiting for the answer (up to the request timeout); a second Ctrl-C
    there prints a traceback. Nothing that thread could still do is wanted, so the process
    leaves at once instead, with its output flushed.
    """
    code = main()
    if code == EXIT_INTERRUPTED and any(t.is_alive() and not t.daemon and t is not threading.main_thread()
                                        for t in threading.enumerate()):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 for --help/--version
        return int(exc.code or 0)
    verbosity = -1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0)
    output.setup_logging(verbosity)
    try:
        if hasattr(args, "format"):
            args.format = args.format or output.format_for(args.output)
            if args.output is not None:  # before any model call: a path that cannot be written fails now
                args.output = output.prepare_output_path(args.output)
        return _dispatch(args)
    except QwenReviewError as exc:
        output.error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # an unexpected bug: one line, the traceback only with -v
        output.log.debug("internal error", exc_info=True)
        output.error(f"internal error: {type(exc).__name__}: {exc}",
                     hint=None if verbosity > 0 else "run again with -v for details, and report it")
        if verbosity > 0:
            logging.getLogger("qwen_review").exception("traceback")
        return EXIT_PROVIDER


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "review":
        return _review(args)
    if args.command == "github":
        from qwen_review import pr

        # Only the home-level .env files: a pull request's own .env must not redirect the endpoint or the key.
        load_for_this_process(project=False)
        return pr.run_github(event_path=args.event_path, pr_number=args.pr, flags=_flags(args),
                             options=_run_options(args))
    if args.command == "hook":
        from qwen_review import hooks

        return hooks.run_hook(stage=args.stage, git_args=args.git_args, flags=_flags(args),
                              options=_run_options(args))
    if args.command == "install-hook":
        from qwen_review import hooks

        for line in hooks.install_hook(Path.cwd(), pre_push=args.pre_push, force=args.force):
            output.notice(line)
        return 0
    if args.command == "uninstall-hook":
        from qwen_review import hooks

        for line in hooks.uninstall_hook(Path.cwd(), pre_push=args.pre_push):
            output.notice(line)
        return 0
    if args.command == "auth":
        return _auth(args)
    if args.command == "templates":
        from qwen_review.prompts import export_templates

        for path in export_templates(args.directory):
            output.notice(f"wrote {path}")
        return 0
    raise UsageError(f"unknown command {args.command!r}")


def _auth(args: argparse.Namespace) -> int:
    from qwen_review import auth

    load_for_this_process()
    if args.auth_command == "login":
        auth.auth_login(env=os.environ, output=output.notice, is_tty=sys.stdin.isatty() and sys.stderr.isatty())
        from qwen_review.providers.select import OPENAI_SOURCE, configured_source

        winner = configured_source(os.environ)
        if winner is not None and not winner.endswith("oauth_creds.json"):
            name = "OPENAI_API_KEY" if winner == OPENAI_SOURCE else winner
            output.warn(f"{name} is set and comes first: runs use it, not this login, until it is unset "
                        "(or pass --provider qwen-oauth)")
    elif args.auth_command == "logout":
        output.write_stdout(auth.auth_logout(env=os.environ).message())
    else:
        settings = _settings_outside_a_run({"provider": args.provider, "model": args.model, "base_url": args.base_url})
        status = auth.auth_status(env=os.environ, model=settings.model, base_url=settings.base_url,
                                  forced=settings.provider, telemetry_setting=settings.telemetry)
        output.write_stdout("\n".join(status.lines()))
        if status.source is None:  # a script can ask `auth status` whether a run would find a provider
            return EXIT_USAGE
    return 0


def _settings_outside_a_run(flags: dict[str, Any]) -> Settings:
    """Settings for commands that may run outside a repository: the config file is used when there is one."""
    from qwen_review import engine
    from qwen_review.config import resolve_settings
    from qwen_review.errors import GitError

    try:
        plan = engine.plan_review(repo_path=Path.cwd(), rev=None, staged=True)
    except GitError:
        return resolve_settings({}, flags)
    return engine.load_settings(plan, config_path=None, flags=flags)


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that are not settings: what to produce and where."""
    return {"dry_run": args.dry_run, "fmt": args.format, "output_path": args.output,
            "use_cache": not args.no_cache, "config_path": args.config, "quiet": args.quiet}


def _review(args: argparse.Namespace) -> int:
    from qwen_review import engine

    repo_path = Path.cwd()
    plan = engine.plan_review(repo_path=repo_path, rev=args.rev, staged=args.staged)
    if plan.nothing_to_review:
        # The fast no-op: nothing changed, so no config, model client or credentials are touched.
        return _finish_empty(args, plan)
    load_for_this_process()
    settings = engine.load_settings(plan, config_path=args.config, flags=_flags(args))
    templates = engine.templates_loader(plan, settings)
    with engine.telemetry(settings) as record:
        review = engine.run(plan, settings, dry_run=args.dry_run, use_cache=not args.no_cache, templates=templates)
        record(review)
    return engine.deliver(review, settings, fmt=args.format, output_path=args.output, templates=templates)


def _finish_empty(args: argparse.Namespace, plan: Any) -> int:
    from qwen_review import engine

    if args.format == "text" and args.output is None:
        if not args.quiet:
            output.notice(f"nothing to review{_why_empty(args.rev, plan.target)}")
        return 0
    review = engine.empty_review(plan)
    return engine.deliver(review, None, fmt=args.format, output_path=args.output)


def _why_empty(rev: str | None, target: Any) -> str:
    """A first run often asks for what is empty (`qwen-review` after committing, `qwen-review HEAD`)."""
    if target.kind == "staged":
        return ": nothing staged (`qwen-review HEAD~1` reviews the last commit)"
    if rev and ".." not in rev and not rev.endswith("^!") and target.base_commit == target.head_commit:
        return f": no commit on HEAD that is not in {rev} (`qwen-review HEAD~1` reviews the last commit)"
    return ""


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options the user gave: unset flags must not hide environment or config values."""
    return {
        "fail_on": args.fail_on, "on_error": args.on_error, "provider": args.provider,
        "model": args.model, "base_url": args.base_url, "include": args.include,
        "exclude": args.exclude, "instructions": args.instructions, "language": args.language,
        "concurrency": args.concurrency, "timeout": args.timeout,
    }
