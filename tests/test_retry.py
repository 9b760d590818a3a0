"""The retry policy alone: classification, Retry-After parsing, backoff bounds, budget and limits."""

from __future__ import annotations

import email.utils

import pytest

from qwen_review.providers.retry import (
    Action,
    Attempts,
    RetryBudget,
    RetryPolicy,
    backoff_delay,
    classify_status,
    is_quota_exhausted,
    parse_retry_after,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_counts_down_to_zero_and_never_below() -> None:
    clock = FakeClock()
    budget = RetryBudget(10, clock=clock)
    assert budget.remaining() == 10
    clock.now += 4
    assert budget.remaining() == 6
    assert not budget.expired
    clock.now += 60
    assert budget.remaining() == 0
    assert budget.expired


@pytest.mark.parametrize(("status", "text", "expected"), [
    (429, "Requests rate limit exceeded, please try again later. Throttling.RateQuota", Action.RETRY),
    (429, "Rate limit reached for requests", Action.RETRY),
    (429, "You exceeded your current quota, please check your plan and billing details. insufficient_quota",
     Action.FAIL_PERMANENT),
    (429, "Free allocated quota exceeded. Throttling.AllocationQuota", Action.FAIL_PERMANENT),
    (400, "Access denied, please make sure your account is in good standing. Arrearage", Action.FAIL_PERMANENT),
    (403, "quota for this model is used up", Action.FAIL_PERMANENT),
    (400, "This model's maximum context length is 8192 tokens. context_length_exceeded", Action.FAIL),
    (400, "Range of input length should be [1, 30720]", Action.FAIL),
    (400, "some field is invalid", Action.FAIL),
    (422, "unprocessable", Action.FAIL),
    (413, "payload too large", Action.FAIL),
    (401, "Incorrect API key provided", Action.REFRESH),
    (403, "forbidden", Action.DENIED),
    (404, "The model `nope` does not exist or you do not have access to it.", Action.FAIL_PERMANENT),
    (400, "model_not_found", Action.FAIL_PERMANENT),
    (408, "request timeout", Action.RETRY),
    (409, "conflict", Action.RETRY),
    (500, "boom", Action.RETRY),
    (502, "<html>bad gateway</html>", Action.RETRY),
    (503, "overloaded", Action.RETRY),
])
def test_classify_status(status: int, text: str, expected: Action) -> None:
    assert classify_status(status, text, json_mode=True) is expected


def test_response_format_rejection_drops_json_mode_only_while_json_mode_is_on() -> None:
    text = "Unrecognized request argument supplied: response_format"
    assert classify_status(400, text, json_mode=True) is Action.DROP_JSON_MODE
    assert classify_status(400, text, json_mode=False) is Action.FAIL
    # A context-length 400 is never mistaken for a JSON-mode rejection.
    assert classify_status(400, "prompt too long for json_object mode", json_mode=True) is Action.FAIL


def test_quota_wording_versus_rate_limit_wording() -> None:
    assert is_quota_exhausted("insufficient_quota")
    assert is_quota_exhausted("Quota exceeded for this account")
    assert not is_quota_exhausted("Throttling.RateQuota: Requests rate limit exceeded")
    assert not is_quota_exhausted("Too many requests")


def test_retry_after_seconds_ms_and_http_date() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=lambda: now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=lambda: now) == 0.0


@pytest.mark.parametrize("value", ["soon", "-5", "nan", "inf", ""])
def test_unusable_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after({"Retry-After": value}) is None
    assert parse_retry_after({"retry-after-ms": value}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    assert backoff_delay(0, base=0.5, cap=20, rng=lambda: 0.999) == pytest.approx(0.4995)
    assert backoff_delay(3, base=0.5, cap=20, rng=lambda: 1.0) == 4.0
    assert backoff_delay(10, base=0.5, cap=20, rng=lambda: 1.0) == 20.0
    assert backoff_delay(10_000, base=0.5, cap=20, rng=lambda: 1.0) == 20.0  # no overflow
    assert backoff_delay(5, base=0.5, cap=20, rng=lambda: 0.0) == 0.0


def test_attempts_stop_after_max_retries() -> None:
    attempts = Attempts(RetryPolicy(max_retries=3, base_delay=0.1), rng=lambda: 1.0)
    delays = [attempts.next_delay(Action.RETRY, retry_after=None, remaining=100) for _ in range(4)]
    assert delays == [0.1, 0.2, 0.4, None]
    assert attempts.retries == 3
    assert attempts.gave_up == "3 retries"


def test_refused_connections_are_retried_at_most_twice() -> None:
    attempts = Attempts(RetryPolicy(max_retries=5, base_delay=0.01), rng=lambda: 0.5)
    results = [attempts.next_delay(Action.RETRY_REFUSED, retry_after=None, remaining=100) for _ in range(3)]
    assert results[:2] == [0.005, 0.01]
    assert results[2] is None
    # Other transient failures still have their own retries left.
    assert attempts.next_delay(Action.RETRY, retry_after=None, remaining=100) is not None


def test_retry_after_is_honoured_exactly_but_never_past_the_budget() -> None:
    attempts = Attempts(RetryPolicy(base_delay=0.01), rng=lambda: 1.0)
    assert attempts.next_delay(Action.RETRY, retry_after=2.5, remaining=100) == 2.5
    assert attempts.next_delay(Action.RETRY, retry_after=50, remaining=10) is None
    assert attempts.gave_up == "time budget"


def test_non_retryable_actions_never_wait() -> None:
    attempts = Attempts(RetryPolicy())
    for action in (Action.FAIL, Action.FAIL_PERMANENT, Action.REFRESH, Action.DROP_JSON_MODE):
        assert attempts.next_delay(action, retry_after=1, remaining=100) is None
    assert attempts.retries == 0
