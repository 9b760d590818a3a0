"""No token reaches an output of the provider, auth and telemetry modules, for every kind of credential.

The CLI-level runs (stdout, stderr, report, log of whole reviews) are added where the CLI is tested.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_review.auth import auth_login, auth_status
from qwen_review.errors import QwenReviewError
from qwen_review.providers.credentials_file import read_credentials
from qwen_review.providers.select import ProviderConfig, select_provider
from qwen_review.telemetry import record, run_event
from tests.fakes.github_server import TOKEN as GITHUB_TOKEN
from tests.fakes.github_server import FakeGitHub
from tests.fakes.oauth_server import FakeOAuthServer, creds_json

API_KEY = "sk-leakcheck-api-key-0001"


class Outputs:
    """Every text a run of these modules produced, to search for secrets at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *texts: object) -> None:
        self.texts.extend(str(text) for text in texts)

    def config(self, config: ProviderConfig) -> None:
        self.add(repr(config), str(config), config.base_url, config.model, config.source)

    def error(self, error: QwenReviewError) -> None:
        self.add(error.message, error.hint, str(error), repr(error))


@pytest.fixture
def oauth() -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(resource_url="https://api.qwen.example") as server:
        yield server


@pytest.fixture
def outputs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], oauth: FakeOAuthServer,
            tmp_path: Path) -> Iterator[Outputs]:
    caplog.set_level(logging.DEBUG)
    collected = Outputs()
    yield collected
    captured = capsys.readouterr()
    telemetry_file = tmp_path / "telemetry.jsonl"
    collected.add(captured.out, captured.err, caplog.text, telemetry_file.read_text() if telemetry_file.exists() else "")
    secrets = {API_KEY, GITHUB_TOKEN, *oauth.issued_access_tokens, *oauth.issued_refresh_tokens}
    assert collected.texts  # the test produced something to search
    for text in collected.texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"


def base_env(oauth: FakeOAuthServer, **extra: str) -> dict[str, str]:
    return {"HOME": os.environ["HOME"], "QWEN_HOME": os.environ["QWEN_HOME"], "QWEN_OAUTH_BASE_URL": oauth.base_url,
            "QWEN_REVIEW_TELEMETRY": "1", **extra}


def finish_run(outputs: Outputs, config: ProviderConfig, env: dict[str, str], tmp_path: Path) -> None:
    """What a run shows besides the review: status lines and a telemetry event."""
    outputs.config(config)
    outputs.add(*auth_status(env=env, telemetry_setting=True).lines())
    event = run_event(stats=object(), provider_kind=config.kind, model=config.model, findings=0,
                      error_classes=["CredentialsError"])
    outputs.add(record(event, enabled=True, env={**env, "QWEN_REVIEW_TELEMETRY_FILE": str(tmp_path / "telemetry.jsonl")}))


def test_api_key(outputs: Outputs, oauth: FakeOAuthServer, tmp_path: Path) -> None:
    env = base_env(oauth, OPENAI_API_KEY=API_KEY)
    finish_run(outputs, select_provider(forced=None, model=None, base_url=None, env=env), env, tmp_path)


def test_login_file_refresh_and_forced_refresh(outputs: Outputs, oauth: FakeOAuthServer, tmp_path: Path) -> None:
    path = Path(os.environ["QWEN_HOME"]) / "oauth_creds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(creds_json(refresh_token=oauth.issue_refresh_token(), expires_in_s=-1))
    env = base_env(oauth)
    config = select_provider(forced=None, model=None, base_url=None, env=env)
    assert config.refresh is not None
    config.refresh()
    outputs.add(repr(read_credentials(path)))
    finish_run(outputs, config, env, tmp_path)


def test_ci_refresh_token_rotation_warning_and_secret_store(outputs: Outputs, oauth: FakeOAuthServer,
                                                             tmp_path: Path) -> None:
    warnings: list[str] = []
    env = base_env(oauth, CI="true", QWEN_OAUTH_REFRESH_TOKEN=oauth.issue_refresh_token())
    finish_run(outputs, select_provider(forced=None, model=None, base_url=None, env=env, warn=warnings.append),
               env, tmp_path)
    with FakeGitHub() as github:
        for token in (GITHUB_TOKEN, "ghp_FAKE_wrong_token_1111"):
            stored = base_env(oauth, GITHUB_ACTIONS="true", QWEN_OAUTH_REFRESH_TOKEN=oauth.issue_refresh_token(),
                              QWEN_OAUTH_SECRET_NAME="QWEN_REFRESH", QWEN_REVIEW_SECRETS_TOKEN=token,
                              GITHUB_REPOSITORY="octo/repo", GITHUB_API_URL=github.base_url)
            outputs.config(select_provider(forced=None, model=None, base_url=None, env=stored, warn=warnings.append))
    assert len(warnings) == 2
    outputs.add(*warnings)


def test_ci_creds_json(outputs: Outputs, oauth: FakeOAuthServer, tmp_path: Path) -> None:
    env = base_env(oauth, CI="true", QWEN_OAUTH_CREDS=creds_json(refresh_token=oauth.issue_refresh_token(),
                                                                 expires_in_s=-1))
    finish_run(outputs, select_provider(forced=None, model=None, base_url=None, env=env, warn=outputs.add),
               env, tmp_path)


@pytest.mark.parametrize("status", [400, 401, 403, 503])
def test_errors_echoing_the_token_are_redacted(outputs: Outputs, oauth: FakeOAuthServer, status: int) -> None:
    token = oauth.issue_refresh_token()
    oauth.script(status, {"error": "invalid_grant", "error_description": f"token {token} is not valid"}, times=5)
    with pytest.raises(QwenReviewError) as caught:
        select_provider(forced=None, model=None, base_url=None, env=base_env(oauth, QWEN_OAUTH_REFRESH_TOKEN=token),
                        sleep=lambda _: None)
    outputs.error(caught.value)
    assert "[REDACTED]" in caught.value.message


def test_a_broken_creds_json_is_not_quoted(outputs: Outputs, oauth: FakeOAuthServer) -> None:
    broken = '{"refresh_token": "' + oauth.issue_refresh_token() + '", "access_token": '
    with pytest.raises(QwenReviewError) as caught:
        select_provider(forced=None, model=None, base_url=None, env=base_env(oauth, QWEN_OAUTH_CREDS=broken))
    outputs.error(caught.value)


def test_device_login_output(outputs: Outputs, oauth: FakeOAuthServer) -> None:
    oauth.device_outcomes = ["authorization_pending", "ok"]
    auth_login(env=base_env(oauth), output=outputs.add, is_tty=True, sleep=lambda _: None)
