"""The data a review produces and every reporter reads: findings, requests, stats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from qwen_review.diff import FileDiff
from qwen_review.target import Target

SEVERITIES = ("info", "low", "medium", "high", "critical")
Severity = Literal["info", "low", "medium", "high", "critical"]
Side = Literal["LEFT", "RIGHT"]


def severity_rank(severity: str) -> int:
    """0 for info up to 4 for critical; -1 for `none` (the --fail-on level that never fails)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def highest_severity(severities: Iterable[str]) -> str:
    """The highest of `severities`, or "none" when there is none."""
    ranks = [severity_rank(severity) for severity in severities]
    return SEVERITIES[max(ranks)] if ranks else "none"


def blocking(severities: Iterable[str], fail_on: str) -> int:
    """How many of `severities` are at or above the `--fail-on` level (none for `none`)."""
    threshold = severity_rank(fail_on)
    return 0 if threshold < 0 else sum(severity_rank(severity) >= threshold for severity in severities)


def severity_first(finding: Finding) -> tuple[int, str, int]:
    """Sort key: highest severity first, then by path and line."""
    return -severity_rank(finding.severity), finding.path, finding.line or 0


@dataclass(slots=True)
class Finding:
    """One review comment; `line` is None when it could not be pinned to the diff."""

    path: str
    line: int | None
    end_line: int | None
    side: Side
    severity: Severity
    category: str
    title: str
    body: str
    suggestion: str | None = None
    quote: str | None = None
    anchored: bool = False
    fingerprint: str = ""
    local: bool = False  # produced on this machine (e.g. a redacted secret), never sent to the model


def line_span(line: int | None, end_line: int | None) -> str | None:
    """How every report writes a finding's lines: `12`, `12-14` for a range, None without a line."""
    if line is None:
        return None
    return f"{line}-{end_line}" if end_line is not None and end_line > line else str(line)


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Request:
    """What one review unit sends to the model (shown by --dry-run)."""

    files: tuple[str, ...]
    estimated_tokens: int
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    kind: Literal["openai", "qwen-oauth", "none"]
    model: str | None = None
    base_url: str | None = None


@dataclass(slots=True)
class Stats:
    files: int = 0
    files_reviewed: int = 0
    units: int = 0
    llm_calls: int = 0
    cached_units: int = 0
    failed_units: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    redactions: int = 0
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FailedUnit:
    files: tuple[str, ...]
    reason: str
    cause: Literal["provider", "answer", "internal"] = "provider"


@dataclass(slots=True)
class Review:
    """The whole result of one run, as every reporter and the publisher see it."""

    target: Target
    provider: ProviderInfo
    files: list[FileDiff]
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    requests: list[Request] = field(default_factory=list)
    failed_units: list[FailedUnit] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    dry_run: bool = False

    def highest_severity(self) -> str:
        return highest_severity(f.severity for f in self.findings)
