"""Read what a GitHub Actions run is about: the event, the pull request it names, and the runner's files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen_review.errors import UsageError
from qwen_review.scrub import scrub

PR_EVENTS = ("pull_request", "pull_request_target")
REVIEWED_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
DISPATCH_INPUTS = ("pr", "pull-request", "pull_request", "number")
# The action passes its `github-token` input as GITHUB_TOKEN; the others are what people also set.
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN", "INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN")
# GitHub runs Dependabot's pull requests like fork pull requests: no Actions secrets, a read-only token.
DEPENDABOT = "dependabot[bot]"


@dataclass(frozen=True)
class RunnerEnv:
    """The GitHub Actions environment of a run; the token is kept out of repr."""

    event_name: str
    repository: str
    api_url: str  # GITHUB_API_URL; empty: github.com (github.connect knows the default)
    token: str = field(repr=False)
    step_summary: Path | None
    output: Path | None
    login: str | None  # whose comments count as ours (QWEN_REVIEW_GITHUB_LOGIN; the action sets it)

    def scrub(self, text: str) -> str:
        """`text` without the token (git's and GitHub's messages can carry it, in a remote URL say)."""
        return scrub(text, (self.token,))


@dataclass(frozen=True)
class PullRequestRef:
    """The pull request to review; the SHAs are None when the event only names a number."""

    repository: str
    number: int
    base_sha: str | None
    head_sha: str | None
    draft: bool
    fork: bool  # the head is in another repository (or a deleted one), or Dependabot opened it
    from_api: bool  # the event named only a number: heads, draft and fork come from the API


@dataclass(frozen=True)
class Skip:
    """An event this command does not review, and why (exit 0 with a notice)."""

    reason: str


def runner_env(env: Mapping[str, str]) -> RunnerEnv:
    def path(name: str) -> Path | None:
        value = env.get(name, "").strip()
        return Path(value) if value else None

    token = next((env[name].strip() for name in TOKEN_VARIABLES if env.get(name, "").strip()), "")
    return RunnerEnv(
        event_name=env.get("GITHUB_EVENT_NAME", "").strip(), repository=env.get("GITHUB_REPOSITORY", "").strip(),
        api_url=env.get("GITHUB_API_URL", "").strip().rstrip("/"), token=token,
        step_summary=path("GITHUB_STEP_SUMMARY"), output=path("GITHUB_OUTPUT"),
        login=env.get("QWEN_REVIEW_GITHUB_LOGIN", "").strip() or None)


def read_payload(event_path: Path | None, env: Mapping[str, str]) -> dict[str, Any] | None:
    """The event JSON (`--event-path`, else GITHUB_EVENT_PATH); None when neither is given."""
    if event_path is None:
        value = env.get("GITHUB_EVENT_PATH", "").strip()
        if not value:
            return None
        event_path = Path(value)
    try:
        payload = json.loads(event_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the event file {event_path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"the event file {event_path} is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise UsageError(f"the event file {event_path} does not hold a JSON object")
    return payload


def pull_request_of(runner: RunnerEnv, payload: Mapping[str, Any] | None, *,
                    pr_number: int | None) -> PullRequestRef | Skip:
    """The pull request an event is about, or why this event is not reviewed.

    `payload` None: no event file at all, so not a run inside Actions (which always gives one); only
    `--pr N` can say what to review then. An event Actions names but this command does not review is a
    Skip (exit 0), so a workflow triggered by more events than pull requests stays green.
    """
    if payload is None and pr_number is None:
        raise UsageError("no pull-request event: run inside GitHub Actions or pass --event-path FILE",
                         hint="or pass --pr N (with GITHUB_REPOSITORY=owner/name) to review a pull request by "
                              "its number")
    payload = payload or {}
    name = runner.event_name or ("pull_request" if isinstance(payload.get("pull_request"), dict) else "")
    repository = runner.repository or _text(_dig(payload, "repository", "full_name"))
    if pr_number is not None or name == "workflow_dispatch":
        number = pr_number if pr_number is not None else _dispatch_number(payload)
        if number is None:
            inputs = " or ".join(f"`{i}`" for i in DISPATCH_INPUTS)
            raise UsageError(f"{name or 'this event'} names no pull request: pass --pr N, or give the workflow "
                             f"an input named {inputs}")
        return PullRequestRef(_need_repository(repository), number, None, None, draft=False, fork=False,
                              from_api=True)
    if not name:  # Actions always names the event: this is a run by hand with some other file
        raise UsageError("no pull-request event: the event file has no pull_request object and "
                         "GITHUB_EVENT_NAME is not set", hint="pass the event file of a pull_request event")
    if name not in PR_EVENTS:
        return Skip(f"event {name} is not reviewed: qwen-review github reviews pull_request, "
                    "pull_request_target and workflow_dispatch (with a pull request number)")
    action = _text(payload.get("action"))
    if action and action not in REVIEWED_ACTIONS:
        return Skip(f"{name} action {action!r} is not reviewed (only {', '.join(REVIEWED_ACTIONS)})")
    pull = payload.get("pull_request")
    if not isinstance(pull, dict):
        raise UsageError(f"the {name} event has no pull_request object (is GITHUB_EVENT_PATH the right file?)")
    number, base, head = pull.get("number", payload.get("number")), _dig(pull, "base", "sha"), _dig(pull, "head", "sha")
    if not isinstance(number, int) or not _is_sha(base) or not _is_sha(head):
        raise UsageError(f"the {name} event lacks pull_request.number, base.sha or head.sha")
    base_repo = _text(_dig(pull, "base", "repo", "full_name")) or repository
    head_repo = _text(_dig(pull, "head", "repo", "full_name"))  # null when the fork was deleted
    fork = head_repo != base_repo or _text(_dig(pull, "user", "login")) == DEPENDABOT
    return PullRequestRef(_need_repository(repository or base_repo), number, str(base), str(head),
                          draft=bool(pull.get("draft")), fork=fork, from_api=False)


def _dispatch_number(payload: Mapping[str, Any]) -> int | None:
    inputs = payload.get("inputs")
    if not isinstance(inputs, dict):
        return None
    for key in DISPATCH_INPUTS:
        value = str(inputs.get(key) or "").strip().lstrip("#")
        if value:
            if not value.isdigit():
                raise UsageError(f"workflow_dispatch input {key!r} is not a pull request number: {value!r}")
            return int(value)
    return None


def _need_repository(repository: str) -> str:
    if "/" not in repository:
        raise UsageError("cannot tell the repository: set GITHUB_REPOSITORY (owner/name)")
    return repository


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and len(value) in (40, 64) and all(c in "0123456789abcdef" for c in value)
