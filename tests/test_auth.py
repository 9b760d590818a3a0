"""`auth login | status | logout`: the device flow with PKCE and slow_down, refusals, and what status shows."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_review.auth import auth_login, auth_logout, auth_status
from qwen_review.errors import CredentialsError
from qwen_review.providers.credentials_file import read_credentials
from qwen_review.providers.oauth_device import DeviceAuthorization, pkce_pair, poll_for_token, request_device_code
from tests.clirun import run_cli
from tests.fakes.oauth_server import FakeOAuthServer, creds_json


@pytest.fixture
def oauth() -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(resource_url="portal.qwen.example") as server:
        yield server


def base_env(oauth: FakeOAuthServer | None = None, **extra: str) -> dict[str, str]:
    env = {"HOME": os.environ["HOME"], "QWEN_HOME": os.environ["QWEN_HOME"], **extra}
    if oauth is not None:
        env["QWEN_OAUTH_BASE_URL"] = oauth.base_url
    return env


def creds_path() -> Path:
    return Path(os.environ["QWEN_HOME"]) / "oauth_creds.json"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_login_with_pkce_pending_and_slow_down(oauth: FakeOAuthServer) -> None:
    oauth.device_outcomes = ["authorization_pending", "slow_down", "authorization_pending", "ok"]
    clock = FakeClock()
    lines: list[str] = []
    shown = auth_login(env=base_env(oauth), output=lines.append, is_tty=True, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [2.0, 2.0, 7.0, 7.0]  # slow_down adds 5 s, as RFC 8628 says
    assert oauth.counts["device_code"] == 1 and oauth.counts["device_poll"] == 4
    _, device_form = oauth.requests[0]
    assert device_form["code_challenge_method"] == "S256"
    assert device_form["scope"] == "openid profile email model.completion"
    creds = read_credentials(creds_path())
    assert creds is not None and creds.access_token == oauth.issued_access_tokens[-1]
    assert creds.refresh_token in oauth.valid_refresh_tokens and creds.resource_url == "portal.qwen.example"
    assert stat.S_IMODE(creds_path().stat().st_mode) == 0o600
    assert shown.endswith("oauth_creds.json")
    text = "\n".join(lines)
    assert "https://chat.qwen.example/authorize?user_code=ABCD-1234" in text and "ABCD-1234" in text
    assert "https://qwen.ai/termsservice" in text and "https://qwen.ai/privacypolicy" in text
    assert creds.access_token not in text and creds.refresh_token not in text


def test_the_server_rejects_a_verifier_that_does_not_match_the_challenge(oauth: FakeOAuthServer) -> None:
    _, challenge = pkce_pair()
    device = request_device_code(oauth.base_url, challenge=challenge)
    other_verifier, _ = pkce_pair()
    clock = FakeClock()
    with pytest.raises(CredentialsError, match="PKCE verification failed"):
        poll_for_token(oauth.base_url, device, verifier=other_verifier, sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize(("outcome", "expected"), [("expired_token", "expired"), ("access_denied", "denied")])
def test_login_ends_on_expired_token_or_access_denied(oauth: FakeOAuthServer, outcome: str, expected: str) -> None:
    oauth.device_outcomes = ["authorization_pending", outcome]
    clock = FakeClock()
    with pytest.raises(CredentialsError, match=expected) as caught:
        auth_login(env=base_env(oauth), output=lambda _: None, is_tty=True, sleep=clock.sleep, clock=clock)
    assert caught.value.exit_code == 2
    assert not creds_path().exists()


def test_polling_stops_when_the_code_expires(oauth: FakeOAuthServer) -> None:
    device = DeviceAuthorization(device_code="device-unknown", user_code="X", verification_uri="u",
                                 verification_uri_complete="u", expires_in=10, interval=4)
    oauth.script(400, {"error": "authorization_pending"}, times=10)
    clock = FakeClock()
    with pytest.raises(CredentialsError, match="expired"):
        poll_for_token(oauth.base_url, device, verifier="v", sleep=clock.sleep, clock=clock)
    assert oauth.counts["device_poll"] == 2 and clock.sleeps == [4, 4, 4]


@pytest.mark.parametrize("variable", ["CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL"])
def test_login_refuses_in_ci(oauth: FakeOAuthServer, variable: str) -> None:
    with pytest.raises(CredentialsError) as caught:
        auth_login(env=base_env(oauth, **{variable: "true"}), output=pytest.fail, is_tty=True)
    assert variable in caught.value.message
    assert caught.value.hint is not None
    assert "OPENAI_API_KEY" in caught.value.hint and "QWEN_OAUTH_REFRESH_TOKEN" in caught.value.hint
    assert oauth.requests == []


def test_login_refuses_without_a_terminal(oauth: FakeOAuthServer) -> None:
    with pytest.raises(CredentialsError, match="interactive terminal") as caught:
        auth_login(env=base_env(oauth), output=pytest.fail, is_tty=False)
    assert caught.value.hint is not None and "QWEN_OAUTH_REFRESH_TOKEN" in caught.value.hint
    assert oauth.requests == []


def test_logout_removes_the_credentials_file() -> None:
    creds_path().parent.mkdir(parents=True, exist_ok=True)
    creds_path().write_text(creds_json(refresh_token="fake-refresh-1"))
    first = auth_logout(env=base_env())
    assert first.removed and not creds_path().exists()
    assert "Qwen Code" in first.message()
    second = auth_logout(env=base_env(QWEN_OAUTH_REFRESH_TOKEN="fake-refresh-2"))
    assert not second.removed
    assert "Not logged in" in second.message() and "QWEN_OAUTH_REFRESH_TOKEN is still set" in second.message()


def test_status_of_a_qwen_login_shows_host_expiry_and_qwens_terms() -> None:
    creds_path().parent.mkdir(parents=True, exist_ok=True)
    creds_path().write_text(creds_json(refresh_token="fake-refresh-secret-9", access_token="fake-access-secret-9",
                                       resource_url="portal.qwen.example"))
    status = auth_status(env=base_env())
    assert (status.provider, status.model, status.endpoint_host) == ("qwen-oauth", "coder-model", "portal.qwen.example")
    assert status.token_expiry.startswith("access token valid until ")
    assert "https://qwen.ai/termsservice" in status.terms and "https://qwen.ai/privacypolicy" in status.terms
    text = "\n".join(status.lines())
    assert "fake-refresh-secret-9" not in text and "fake-access-secret-9" not in text
    assert "telemetry: off: not turned on" in text


def test_status_of_an_endpoint_without_its_key_does_not_claim_the_qwen_login() -> None:
    creds_path().parent.mkdir(parents=True, exist_ok=True)
    creds_path().write_text(creds_json(refresh_token="fake-refresh-3", resource_url="portal.qwen.example"))
    status = auth_status(env=base_env(), base_url="http://localhost:11434/v1")  # as OPENAI_BASE_URL sets it
    assert (status.provider, status.endpoint_host, status.token_expiry) == (
        "openai", "localhost", "OPENAI_API_KEY is not set")


def test_status_of_an_expired_login_says_it_is_refreshed_next_run() -> None:
    creds_path().parent.mkdir(parents=True, exist_ok=True)
    creds_path().write_text(creds_json(refresh_token="fake-refresh-1", expires_in_s=-10))
    assert "expired at" in auth_status(env=base_env()).token_expiry


def test_status_of_an_api_key_names_the_chosen_providers_terms() -> None:
    status = auth_status(env=base_env(OPENAI_API_KEY="sk-status-secret"))
    assert (status.provider, status.endpoint_host, status.model) == ("openai", "dashscope.aliyuncs.com", "qwen3-coder-plus")
    assert "Alibaba Cloud" in status.terms
    local = auth_status(env=base_env(OPENAI_API_KEY="sk-status-secret", OPENAI_BASE_URL="http://127.0.0.1:11434/v1"))
    assert local.endpoint_host == "127.0.0.1" and "this machine" in local.terms
    other = auth_status(env=base_env(OPENAI_API_KEY="sk-status-secret"), base_url="https://llm.corp.example/v1/x")
    assert other.endpoint_host == "llm.corp.example" and "llm.corp.example" in other.terms
    assert all("sk-status-secret" not in line for line in status.lines() + local.lines() + other.lines())


def test_status_with_nothing_configured_and_telemetry_in_ci() -> None:
    status = auth_status(env=base_env(CI="true"), telemetry_setting=True)
    assert status.provider == "none"
    assert "auth login" in status.token_expiry
    assert not status.telemetry_enabled and "CI detected (CI is set)" in status.telemetry_reason


def test_status_with_telemetry_on_names_the_sink(tmp_path: Path) -> None:
    status = auth_status(env=base_env(QWEN_REVIEW_TELEMETRY="1", QWEN_REVIEW_TELEMETRY_FILE=str(tmp_path / "t.jsonl")))
    assert status.telemetry_enabled
    assert any("sink: JSON lines file" in line and "t.jsonl" in line for line in status.lines())


def test_status_of_a_ci_refresh_token_makes_no_request(oauth: FakeOAuthServer) -> None:
    status = auth_status(env=base_env(oauth, QWEN_OAUTH_REFRESH_TOKEN="fake-refresh-ci"))
    assert (status.provider, status.source) == ("qwen-oauth", "QWEN_OAUTH_REFRESH_TOKEN")
    assert "exchanged" in status.token_expiry
    assert oauth.requests == []


def test_login_says_when_another_credential_comes_first_and_status_exits_2_without_a_provider(
        oauth: FakeOAuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    oauth.device_outcomes = ["ok"]
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    env = {"QWEN_OAUTH_BASE_URL": oauth.base_url, "OPENAI_API_KEY": "sk-comes-first"}
    login = run_cli(tmp_path, "auth", "login", capsys=capsys, env=env)
    assert login.code == 0, login.err
    assert login.err.count("Logged in") == 1  # said once
    assert ("warning: OPENAI_API_KEY is set and comes first: runs use it, not this login, until it is unset "
            "(or pass --provider qwen-oauth)") in login.err
    assert run_cli(tmp_path, "auth", "status", capsys=capsys, env=env).code == 0
    creds_path().unlink()
    nothing = run_cli(tmp_path, "auth", "status", capsys=capsys)
    assert nothing.code == 2 and "provider: none" in nothing.out
