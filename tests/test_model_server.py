"""The fake model server itself, spoken to with plain http.client: routes, record, script order, gates."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.model_server import ModelServer, RecordedRequest, Reply, error_reply


def post(server: ModelServer, path: str, body: Any, *, token: str | None = "tok") -> tuple[int, dict[str, str], Any]:
    url = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        headers = {"Content-Type": "application/json", "X-Custom": "yes"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        content = json.loads(data) if response.getheader("Content-Type") == "application/json" else data.decode()
        return response.status, dict(response.getheaders()), content
    finally:
        conn.close()


def test_default_answer_is_a_chat_completion_and_the_request_is_recorded(model_server: ModelServer) -> None:
    status, _, body = post(model_server, "/v1/chat/completions",
                           {"model": "m1", "messages": [{"role": "user", "content": "hello"}]})
    assert status == 200
    assert body["model"] == "m1"
    assert body["choices"][0]["message"]["content"] == '{"summary": "No issues.", "findings": []}'
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    [request] = model_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.has_authorization
    assert request.bearer_is("tok")
    assert not request.bearer_is("other")
    assert "authorization" not in request.headers
    assert "tok" not in json.dumps(request.headers)
    assert request.headers["x-custom"] == "yes"
    assert request.prompt_text == "hello"


def test_unknown_paths_get_404_but_any_prefix_reaches_chat(model_server: ModelServer) -> None:
    assert post(model_server, "/v1/embeddings", {})[0] == 404
    assert post(model_server, "/chat/completions", {"messages": []})[0] == 200
    assert post(model_server, "/api/x/v1/chat/completions", {"messages": []})[0] == 200


def test_script_queue_then_callable_then_fallback(model_server: ModelServer) -> None:
    seen: list[str] = []

    def echo(request: RecordedRequest) -> Reply:
        seen.append(request.prompt_text)
        return Reply(text=f"echo {request.prompt_text}", finish_reason="length", prompt_tokens=1, completion_tokens=2)

    model_server.script(error_reply(429, "slow down", headers={"Retry-After": "7"}), echo)
    model_server.fallback = Reply(text="fallback")
    status, headers, body = post(model_server, "/v1/chat/completions", {"messages": []})
    assert (status, headers["Retry-After"], body["error"]["message"]) == (429, "7", "slow down")
    _, _, body = post(model_server, "/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}]})
    assert body["choices"][0]["message"]["content"] == "echo a"
    assert body["choices"][0]["finish_reason"] == "length"
    assert seen == ["a"]
    _, _, body = post(model_server, "/v1/chat/completions", {"messages": []})
    assert body["choices"][0]["message"]["content"] == "fallback"


def test_required_token_and_response_format_rejection(model_server: ModelServer) -> None:
    model_server.required_token = "right"
    model_server.reject_response_format = True
    assert post(model_server, "/v1/chat/completions", {"messages": []}, token="wrong")[0] == 401
    assert post(model_server, "/v1/chat/completions", {"messages": []}, token=None)[0] == 401
    status, _, body = post(model_server, "/v1/chat/completions",
                           {"messages": [], "response_format": {"type": "json_object"}}, token="right")
    assert status == 400
    assert "response_format" in body["error"]["message"]
    assert post(model_server, "/v1/chat/completions", {"messages": []}, token="right")[0] == 200
    assert [r.has_authorization for r in model_server.requests] == [True, False, True, True]


def test_raw_text_body_and_dropped_connection(model_server: ModelServer) -> None:
    model_server.script(Reply(status=502, body="<html>Bad Gateway</html>"), Reply(drop=True))
    status, _, body = post(model_server, "/v1/chat/completions", {})
    assert (status, body) == (502, "<html>Bad Gateway</html>")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post(model_server, "/v1/chat/completions", {})
    assert len(model_server.requests) == 2


def test_close_returns_promptly_with_delayed_replies_and_idle_connections() -> None:
    server = ModelServer().start()
    server.fallback = Reply(delay=30)
    url = urlsplit(server.base_url)
    idle = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    idle.connect()  # a kept-alive connection with no request: its handler thread waits for one
    results: list[BaseException] = []

    def slow_call() -> None:
        try:
            post(server, "/v1/chat/completions", {})
        except (OSError, http.client.HTTPException) as exc:
            results.append(exc)

    caller = threading.Thread(target=slow_call)
    caller.start()
    while not server.requests:
        threading.Event().wait(0.01)
    finisher = threading.Thread(target=server.close)
    finisher.start()
    finisher.join(timeout=5)
    caller.join(timeout=5)
    idle.close()
    assert not finisher.is_alive(), "close() must not wait for delayed replies or idle connections"
    assert not caller.is_alive()
    assert len(results) == 1
