"""ChatClient against the fake OpenAI-compatible server: answers, retries, refusals, refresh, fallback, threads."""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from qwen_review.errors import EXIT_PROVIDER, EXIT_USAGE, CredentialsError, ProviderError, QwenReviewError
from qwen_review.providers.openai_compat import ChatClient, ModelAuthError, ModelCallError, is_permanent
from qwen_review.providers.retry import RetryBudget
from qwen_review.review import Message
from tests.fakes.model_server import ModelServer, RecordedRequest, Reply, error_reply

KEY = "sk-test-0123456789abcdef"
MESSAGES = (Message("system", "Review the diff."), Message("user", "+x = 1"))

MakeClient = Callable[..., ChatClient]


@pytest.fixture
def make_client(model_server: ModelServer) -> Iterator[MakeClient]:
    """Clients on the fake server with tiny backoff delays; all closed after the test."""
    clients: list[ChatClient] = []

    def factory(**overrides: object) -> ChatClient:
        options: dict[str, object] = {"base_url": model_server.base_url, "api_key": KEY, "model": "qwen-test",
                                      "timeout_budget": 20.0, "backoff_base": 0.001, "backoff_cap": 0.01}
        options.update(overrides)
        client = ChatClient(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def test_valid_answer_with_usage_and_finish_reason(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.script(Reply(text='{"summary": "ok", "findings": []}', finish_reason="length",
                              prompt_tokens=123, completion_tokens=45))
    completion = make_client(extra_headers={"X-Trace": "t1"}).complete(MESSAGES)
    assert completion.text == '{"summary": "ok", "findings": []}'
    assert completion.finish_reason == "length"
    assert (completion.prompt_tokens, completion.completion_tokens) == (123, 45)
    [request] = model_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.bearer_is(KEY)
    assert request.headers["x-trace"] == "t1"
    assert request.body["model"] == "qwen-test"
    assert request.body["messages"] == [{"role": "system", "content": "Review the diff."},
                                        {"role": "user", "content": "+x = 1"}]
    assert request.body["response_format"] == {"type": "json_object"}
    assert "temperature" not in request.body


def test_fenced_answer_is_returned_as_is(model_server: ModelServer, make_client: MakeClient) -> None:
    fenced = 'Here you go:\n```json\n{"summary": "s", "findings": []}\n```\n'
    model_server.script(Reply(text=fenced))
    assert make_client().complete(MESSAGES).text == fenced


def test_plain_text_request_and_options(model_server: ModelServer, make_client: MakeClient) -> None:
    make_client(temperature=0.1, max_tokens=2048).complete(MESSAGES, json_mode=False)
    [request] = model_server.requests
    assert "response_format" not in request.body
    assert request.body["temperature"] == 0.1
    assert request.body["max_tokens"] == 2048


def test_any_base_path_works(model_server: ModelServer, make_client: MakeClient) -> None:
    base = model_server.base_url.removesuffix("/v1") + "/compatible-mode/v1"
    assert make_client(base_url=base).complete(MESSAGES).finish_reason == "stop"
    assert model_server.requests[0].path == "/compatible-mode/v1/chat/completions"


def test_429_honours_retry_after(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.script(error_reply(429, "Requests rate limit exceeded", code="Throttling.RateQuota",
                                    headers={"Retry-After": "0.4"}),
                        error_reply(429, "slow down", headers={"retry-after-ms": "200"}),
                        Reply(text="done"))
    assert make_client().complete(MESSAGES).text == "done"
    first, second, third = model_server.requests
    # The backoff base is 1 ms, so these gaps can only come from the server's headers.
    assert second.received_at - first.received_at >= 0.4
    assert third.received_at - second.received_at >= 0.2


def test_500_then_ok(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.script(error_reply(500, "internal"), Reply(body="<html>502 Bad Gateway</html>", status=502),
                        Reply(text="ok"))
    assert make_client().complete(MESSAGES).text == "ok"
    assert len(model_server.requests) == 3


def test_dropped_connection_then_ok(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.script(Reply(drop=True), Reply(drop=True), Reply(text="ok"))
    assert make_client().complete(MESSAGES).text == "ok"
    assert len(model_server.requests) == 3


def test_retries_stop_at_max_retries(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.fallback = error_reply(503, "upstream overloaded")
    with pytest.raises(ModelCallError) as caught:
        make_client(max_retries=2).complete(MESSAGES)
    assert len(model_server.requests) == 3
    assert "HTTP 503" in caught.value.message
    assert "upstream overloaded" in caught.value.message
    assert "2 retries" in caught.value.message
    assert not caught.value.permanent
    assert caught.value.exit_code == EXIT_PROVIDER


def test_slow_answer_past_the_budget_fails_within_the_budget(model_server: ModelServer,
                                                             make_client: MakeClient) -> None:
    model_server.fallback = Reply(delay=10)
    start = time.monotonic()
    with pytest.raises(ModelCallError) as caught:
        make_client(timeout_budget=0.6).complete(MESSAGES)
    elapsed = time.monotonic() - start
    assert elapsed < 3, "a request must not run past the shared time budget"
    assert "time budget" in caught.value.message
    assert not is_permanent(caught.value)


def test_shared_budget_is_spent_across_requests(model_server: ModelServer, make_client: MakeClient) -> None:
    now = [0.0]
    budget = RetryBudget(30, clock=lambda: now[0])
    client = make_client(timeout_budget=budget)
    client.complete(MESSAGES)
    now[0] = 31.0  # the run's budget is used up, by this client or any other sharing the budget
    with pytest.raises(ModelCallError, match="not sent: the 30 s time budget is used up"):
        client.complete(MESSAGES)
    assert len(model_server.requests) == 1


def test_retry_after_past_the_budget_fails_at_once(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.script(error_reply(429, "busy", headers={"Retry-After": "60"}))
    start = time.monotonic()
    with pytest.raises(ModelCallError, match=r"HTTP 429: busy .*\(Retry-After 60 s\)"):
        make_client(timeout_budget=5).complete(MESSAGES)
    assert time.monotonic() - start < 2
    assert len(model_server.requests) == 1


def test_401_is_a_credentials_error_without_retry(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.required_token = "sk-other"
    client = make_client()
    with pytest.raises(ModelAuthError) as caught:
        client.complete(MESSAGES)
    assert caught.value.exit_code == EXIT_USAGE
    assert "HTTP 401" in caught.value.message
    assert "Incorrect API key provided" in caught.value.message
    assert is_permanent(caught.value)
    assert len(model_server.requests) == 1
    with pytest.raises(ModelAuthError):
        client.complete(MESSAGES)  # permanent: later calls fail without sending anything
    assert len(model_server.requests) == 1


def test_403_is_a_credentials_error_and_404_says_what_to_check(model_server: ModelServer,
                                                                make_client: MakeClient) -> None:
    model_server.script(error_reply(403, "this key may not use qwen-max"))
    with pytest.raises(ModelAuthError) as denied:
        make_client().complete(MESSAGES)
    assert denied.value.exit_code == EXIT_USAGE and "HTTP 403" in denied.value.message
    assert denied.value.hint == "Check OPENAI_API_KEY (and that this key may use the model)."
    oauth = make_client(refresh_token=lambda: "fresh")
    model_server.script(error_reply(403, "no access"))
    with pytest.raises(ModelAuthError) as login:
        oauth.complete(MESSAGES)
    assert "qwen-review auth login" in (login.value.hint or "")
    model_server.script(error_reply(404, "Not Found"))
    with pytest.raises(ModelCallError) as missing:
        make_client().complete(MESSAGES)
    assert "check that the base URL ends in /v1 and that model 'qwen-test' exists there" in missing.value.message


def test_401_with_refresh_swaps_the_key_once(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.required_token = "access-2"
    calls: list[int] = []

    def refresh() -> str:
        calls.append(1)
        return "access-2"

    client = make_client(api_key="access-1", refresh_token=refresh)
    assert client.complete(MESSAGES).finish_reason == "stop"
    assert client.complete(MESSAGES).finish_reason == "stop"
    assert calls == [1]
    first, second, third = model_server.requests
    assert first.bearer_is("access-1")
    assert second.bearer_is("access-2")
    assert third.bearer_is("access-2")


def test_401_after_refresh_gives_up(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.required_token = "never"
    calls: list[int] = []

    def refresh() -> str:
        calls.append(1)
        return f"access-{len(calls) + 1}"

    with pytest.raises(ModelAuthError, match="HTTP 401"):
        make_client(api_key="access-1", refresh_token=refresh).complete(MESSAGES)
    assert calls == [1]
    assert len(model_server.requests) == 2


@pytest.mark.parametrize(("raised", "expected"), [
    (CredentialsError("the refresh token was rejected: log in again"), ModelAuthError),
    (ProviderError("token endpoint answered HTTP 503"), ModelCallError),
])
def test_a_failed_refresh_is_permanent(model_server: ModelServer, make_client: MakeClient,
                                       raised: QwenReviewError, expected: type[QwenReviewError]) -> None:
    model_server.required_token = "never"

    def refresh() -> str:
        raise raised

    client = make_client(refresh_token=refresh)
    with pytest.raises(expected, match=f"credential refresh failed: {raised.message}") as caught:
        client.complete(MESSAGES)
    assert is_permanent(caught.value)
    with pytest.raises(expected):
        client.complete(MESSAGES)
    assert len(model_server.requests) == 1


def test_concurrent_401s_refresh_only_once(model_server: ModelServer, make_client: MakeClient) -> None:
    barrier = threading.Barrier(4, timeout=5)
    calls: list[int] = []

    def refresh() -> str:
        calls.append(1)
        return "fresh"

    def answer(request: RecordedRequest) -> Reply:
        if request.bearer_is("fresh"):
            return Reply()
        barrier.wait()  # all four stale requests are in flight before any 401 comes back
        return error_reply(401, "expired token")

    model_server.fallback = answer
    client = make_client(api_key="stale", refresh_token=refresh)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.complete(MESSAGES), range(4)))
    assert [r.finish_reason for r in results] == ["stop"] * 4
    assert calls == [1]
    assert len(model_server.requests) == 8


def test_quota_exhausted_is_permanent_and_stops_later_calls(model_server: ModelServer,
                                                           make_client: MakeClient) -> None:
    model_server.script(error_reply(429, "You exceeded your current quota, please check your plan.",
                                    code="insufficient_quota", type_="insufficient_quota",
                                    headers={"Retry-After": "1"}))
    client = make_client()
    with pytest.raises(ModelCallError) as caught:
        client.complete(MESSAGES)
    assert caught.value.permanent
    assert caught.value.status == 429
    assert "exceeded your current quota" in caught.value.message
    assert len(model_server.requests) == 1
    with pytest.raises(ModelCallError) as again:
        client.complete(MESSAGES)
    assert again.value.permanent
    assert len(model_server.requests) == 1


def test_context_length_400_is_not_retried_and_not_permanent(model_server: ModelServer,
                                                             make_client: MakeClient) -> None:
    model_server.script(error_reply(400, "This model's maximum context length is 32768 tokens.",
                                    code="context_length_exceeded"))
    client = make_client()
    with pytest.raises(ModelCallError, match="maximum context length") as caught:
        client.complete(MESSAGES)
    assert not caught.value.permanent
    assert len(model_server.requests) == 1
    assert client.complete(MESSAGES).finish_reason == "stop"  # other units still go through


def test_rejected_response_format_falls_back_to_plain_text_and_remembers(model_server: ModelServer,
                                                                        make_client: MakeClient) -> None:
    model_server.reject_response_format = True
    client = make_client()
    assert client.complete(MESSAGES).finish_reason == "stop"
    assert client.json_mode_supported is False
    assert client.complete(MESSAGES).finish_reason == "stop"
    bodies = [r.body for r in model_server.requests]
    assert len(bodies) == 3
    assert "response_format" in bodies[0]
    assert "response_format" not in bodies[1]
    assert "response_format" not in bodies[2]  # remembered: no second rejected attempt


def test_refused_connection_is_retried_at_most_twice(make_client: MakeClient) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelCallError) as caught:
        make_client(base_url=f"http://127.0.0.1:{port}/v1").complete(MESSAGES)
    assert "connection refused" in caught.value.message
    assert "after 3 attempts" in caught.value.message


def test_an_unreachable_server_fails_after_the_connect_timeout_not_the_budget(make_client: MakeClient) -> None:
    # A blackhole on loopback: a listener whose accept queue is full drops new connections' SYNs,
    # as a firewall or a VPN that is down does; connecting hangs instead of being refused.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        try:
            for sock in queued:
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
            began = time.monotonic()
            with pytest.raises(ModelCallError) as caught:
                make_client(base_url=f"http://127.0.0.1:{port}/v1", connect_timeout=0.3,
                            timeout_budget=60.0).complete(MESSAGES)
            elapsed = time.monotonic() - began
        finally:
            for sock in queued:
                sock.close()
    assert "no connection within 0.3 s" in caught.value.message
    assert "after 3 attempts: 2 retries for an unreachable server" in caught.value.message
    assert elapsed < 5  # three connect timeouts and two short pauses, not the 60 s budget


def test_close_wakes_a_request_waiting_to_retry(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.fallback = error_reply(503, "busy", headers={"Retry-After": "30"})
    client = make_client(timeout_budget=60)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.complete(MESSAGES)
        except ModelCallError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    while not model_server.requests:
        time.sleep(0.01)
    client.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(errors) == 1
    assert len(model_server.requests) == 1


def test_answer_without_choices_is_a_provider_error(model_server: ModelServer, make_client: MakeClient) -> None:
    model_server.script(Reply(body={"id": "x", "object": "chat.completion", "choices": []}))
    with pytest.raises(ModelCallError, match="no choices"):
        make_client().complete(MESSAGES)


def test_parallel_calls_share_one_pooled_client(model_server: ModelServer, make_client: MakeClient) -> None:
    threads = 6
    barrier = threading.Barrier(threads, timeout=5)

    def together(request: RecordedRequest) -> Reply:
        barrier.wait()  # only succeeds if all requests are in flight at the same time
        return Reply(text=request.body["messages"][-1]["content"])

    model_server.fallback = together
    client = make_client(max_connections=threads)
    prompts = [f"unit {i}" for i in range(threads * 3)]
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(lambda p: client.complete([Message("user", p)]).text, prompts))
    assert answers == prompts
    assert len(model_server.requests) == threads * 3
    # Kept-alive connections are reused: never more sockets than the pool size.
    assert len({r.client_port for r in model_server.requests}) <= threads


def test_the_key_never_appears_in_errors(model_server: ModelServer, make_client: MakeClient) -> None:
    echo = f"Incorrect API key provided: {KEY}. You can find your API key at https://example.invalid"
    model_server.script(error_reply(401, echo))
    with pytest.raises(ModelAuthError) as auth:
        make_client().complete(MESSAGES)
    model_server.fallback = error_reply(500, f"upstream said {KEY}")
    with pytest.raises(ModelCallError) as server:
        make_client(max_retries=1).complete(MESSAGES)
    for exc in (auth.value, server.value):
        rendered = "".join(traceback.format_exception(exc))
        assert KEY not in rendered
        assert KEY not in str(exc)
        assert "[REDACTED]" in str(exc)
        assert "\n" not in exc.message
