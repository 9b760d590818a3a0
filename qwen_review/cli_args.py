"""The command line's grammar: every command, option and help text (`cli.py` acts on what is parsed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from qwen_review import __version__
from qwen_review.hooks import HOOK_DEFAULTS
from qwen_review.review import SEVERITIES

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
    add_run_options(review)

    github = commands.add_parser(
        "github", help="review a GitHub pull request (what action.yml runs)",
        description="Review the pull request of a GitHub Actions event and publish the findings: one summary "
                    "comment edited in place and one review with inline comments. Reads GITHUB_EVENT_PATH, "
                    "GITHUB_EVENT_NAME, GITHUB_REPOSITORY, GITHUB_API_URL and GITHUB_TOKEN. Config and "
                    "templates come from the pull request's base commit.",
    )
    github.add_argument("--event-path", type=Path, metavar="PATH", help="the event JSON (default: $GITHUB_EVENT_PATH)")
    github.add_argument("--pr", type=int, metavar="N", help="pull request number (workflow_dispatch)")
    add_run_options(github)

    hook = commands.add_parser(
        "hook", help="run as a git hook (used by hooks/ and .pre-commit-hooks.yaml)",
        description="Review what a git hook is about to let through: the staged changes at pre-commit, "
                    "the pushed commits at pre-push. Its defaults (below) let an unreachable model warn rather "
                    "than block; the repository's config file still wins over them.",
    )
    hook.add_argument("stage", choices=("pre-commit", "pre-push", "manual"), help="the hook stage")
    hook.add_argument("git_args", nargs="*", metavar="ARG", help="what git passes the hook (pre-push: remote name and URL)")
    add_run_options(hook, HOOK_DEFAULTS)

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


def add_run_options(parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None) -> None:
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


def normalise_argv(argv: list[str]) -> list[str]:
    """`review` is the default command: `qwen-review HEAD~1` means `qwen-review review HEAD~1`."""
    if not argv:
        return ["review"]
    first = argv[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return ["review", *argv]
