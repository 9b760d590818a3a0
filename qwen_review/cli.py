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

from qwen_review import output
from qwen_review.cli_args import build_parser, normalise_argv
from qwen_review.envfiles import load_for_this_process
from qwen_review.errors import EXIT_INTERRUPTED, EXIT_PROVIDER, EXIT_USAGE, QwenReviewError, UsageError

if TYPE_CHECKING:
    from qwen_review.config import Settings

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
    args_list = normalise_argv(list(sys.argv[1:] if argv is None else argv))
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
