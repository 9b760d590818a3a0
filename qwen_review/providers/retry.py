"""Which model-call failures are retried, and how long to wait: pure logic, no HTTP client."""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


class RetryBudget:
    """A deadline shared by every request of a run; no request waits or runs past it."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._deadline = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


class Action(enum.Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"  # transient: 408, 409, 429 (not quota), 5xx, timeout, dropped connection
    RETRY_REFUSED = "retry_refused"  # connection refused or not made in time: at most `max_refused` retries
    REFRESH = "refresh"  # 401: refresh the credentials once and retry, when a refresher exists
    DENIED = "denied"  # 403: the credentials work but may not do this (exit 2, like a rejected key)
    DROP_JSON_MODE = "drop_json_mode"  # the endpoint rejects response_format: resend as plain text
    FAIL = "fail"  # not retried; other requests may still succeed (context length, a bad unit)
    FAIL_PERMANENT = "fail_permanent"  # not retried; every later request would fail the same way


# Phrases providers use when the account, not the request rate, is the problem (OpenAI, DashScope, gateways).
_QUOTA_PHRASES = ("insufficient_quota", "exceeded your current quota", "free allocated quota exceeded",
                  "allocated quota exceeded", "quota exceeded", "quota exhausted", "quota has been exhausted",
                  "free tier of the model has been exhausted", "arrearage", "insufficient balance",
                  "bill is overdue", "billoverdue", "billing hard limit", "account is in good standing")
# DashScope's per-minute limit is spelled `Throttling.RateQuota`: it contains "quota" but is transient.
_RATE_LIMIT_PHRASES = ("ratequota", "rate limit", "rate_limit", "too many requests")
_CONTEXT_PHRASES = ("context_length_exceeded", "maximum context length", "context length", "too long",
                    "range of input length", "input length", "too many tokens", "prompt is too large")
_RESPONSE_FORMAT_PHRASES = ("response_format", "json_object", "json mode", "json_mode", "unsupported",
                            "not supported")
_MODEL_ACCESS_PHRASES = ("model_not_found", "model not found", "does not exist or you do not have access",
                         "do not have access to model")


def is_quota_exhausted(error_text: str) -> bool:
    """True when an error says the quota or balance is spent (permanent), not a passing rate limit."""
    text = error_text.lower()
    if any(phrase in text for phrase in _QUOTA_PHRASES):
        return True
    return "quota" in text and not any(phrase in text for phrase in _RATE_LIMIT_PHRASES)


def is_context_length(error_text: str) -> bool:
    text = error_text.lower()
    return any(phrase in text for phrase in _CONTEXT_PHRASES)


def classify_status(status: int, error_text: str, *, json_mode: bool) -> Action:
    """Map an HTTP error status and the endpoint's error text (message, code, type) to an action."""
    if status == 401:
        return Action.REFRESH
    if 400 <= status < 500 and is_quota_exhausted(error_text):
        return Action.FAIL_PERMANENT
    if status == 400 and is_context_length(error_text):
        return Action.FAIL
    if status in (400, 422) and json_mode and any(p in error_text.lower() for p in _RESPONSE_FORMAT_PHRASES):
        return Action.DROP_JSON_MODE
    if status in (408, 409, 429) or status >= 500:
        return Action.RETRY
    if any(phrase in error_text.lower() for phrase in _MODEL_ACCESS_PHRASES):
        return Action.FAIL_PERMANENT
    if status == 403:
        return Action.DENIED
    # Wrong account, wrong URL or wrong method: the same for every unit, so sending more is pointless.
    if status in (402, 404, 405):
        return Action.FAIL_PERMANENT
    return Action.FAIL


def parse_retry_after(headers: Mapping[str, str], *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    lowered = {name.lower(): value for name, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    seconds = lowered.get("retry-after")
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(seconds).timestamp() - now())
        except (TypeError, ValueError):
            return None
    return value if math.isfinite(value) and value >= 0 else None


def backoff_delay(retry: int, *, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**retry))."""
    return rng() * min(cap, base * 2.0 ** min(retry, 32))


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits per request; small delays in tests keep them fast."""

    max_retries: int = 5
    max_refused: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0
    min_attempt_seconds: float = 0.05  # an attempt with less time left than this cannot succeed


class Attempts:
    """The retry state of one request: counts retries and decides the pause before the next attempt."""

    def __init__(self, policy: RetryPolicy, *, rng: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.retries = 0
        self.refused = 0
        self.gave_up: str | None = None  # why the last next_delay() returned None, for the error message
        self._rng = rng

    def next_delay(self, action: Action, *, retry_after: float | None, remaining: float) -> float | None:
        """Seconds to wait before retrying, or None when the request must give up (limit or budget)."""
        if action not in (Action.RETRY, Action.RETRY_REFUSED):
            self.gave_up = "not retryable"
            return None
        if self.retries >= self.policy.max_retries:
            self.gave_up = f"{self.policy.max_retries} retries"
            return None
        if action is Action.RETRY_REFUSED and self.refused >= self.policy.max_refused:
            self.gave_up = f"{self.policy.max_refused} retries for an unreachable server"
            return None
        if retry_after is not None:
            delay = retry_after  # the server knows when it will have room; jitter would only add waiting
        else:
            delay = backoff_delay(self.retries, base=self.policy.base_delay, cap=self.policy.max_delay,
                                  rng=self._rng)
        if delay + self.policy.min_attempt_seconds > remaining:
            self.gave_up = "time budget"  # waiting would end past the deadline: fail now, not sleep in vain
            return None
        self.retries += 1
        if action is Action.RETRY_REFUSED:
            self.refused += 1
        return delay
