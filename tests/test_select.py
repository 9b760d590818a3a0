"""Provider selection: the documented order, forcing, defaults, and the error when nothing is configured."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_review.errors import ConfigError, CredentialsError
from qwen_review.providers.select import DASHSCOPE_BASE_URL, ProviderConfig, configured_source, select_provider
from tests.fakes.oauth_server import FakeOAuthServer, creds_json


@pytest.fixture
def oauth() -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(resource_url="https://api.qwen.example") as server:
        yield server


def env_with(**values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key in ("HOME", "QWEN_HOME")}
    env.update(values)
    return env


def write_login(oauth: FakeOAuthServer, *, access: str = "fake-access-file") -> Path:
    path = Path(os.environ["QWEN_HOME"]) / "oauth_creds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(creds_json(refresh_token=oauth.issue_refresh_token(), access_token=access,
                               resource_url="https://api.qwen.example"))
    return path


def test_openai_key_defaults_to_dashscope_and_a_qwen_coder_model() -> None:
    config = select_provider(forced=None, model=None, base_url=None, env=env_with(OPENAI_API_KEY="sk-test-1"))
    assert (config.kind, config.base_url, config.model, config.source) == (
        "openai", DASHSCOPE_BASE_URL, "qwen3-coder-plus", "OPENAI_API_KEY")
    assert config.api_key == "sk-test-1"
    assert config.refresh is None


def test_openai_variables_and_the_qwen_model_fallback() -> None:
    env = env_with(OPENAI_API_KEY="sk-test-1", OPENAI_BASE_URL="http://127.0.0.1:8000/v1/", QWEN_MODEL="qwen3-coder")
    config = select_provider(forced=None, model=None, base_url=None, env=env)
    assert (config.base_url, config.model) == ("http://127.0.0.1:8000/v1", "qwen3-coder")
    env["OPENAI_MODEL"] = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
    assert select_provider(forced=None, model=None, base_url=None, env=env).model == "Qwen/Qwen3-Coder-30B-A3B-Instruct"


def test_merged_flags_win_over_the_openai_variables() -> None:
    env = env_with(OPENAI_API_KEY="sk-test-1", OPENAI_BASE_URL="http://a.example/v1", OPENAI_MODEL="m1")
    config = select_provider(forced=None, model="m2", base_url="http://b.example/v1", env=env)
    assert (config.base_url, config.model) == ("http://b.example/v1", "m2")


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_key_counts_as_unset(empty: str, oauth: FakeOAuthServer) -> None:
    write_login(oauth)
    config = select_provider(forced=None, model=None, base_url=None,
                             env=env_with(OPENAI_API_KEY=empty, QWEN_OAUTH_BASE_URL=oauth.base_url))
    assert config.kind == "qwen-oauth"


def test_the_api_key_comes_first_and_no_oauth_request_is_made(oauth: FakeOAuthServer) -> None:
    write_login(oauth)
    env = env_with(OPENAI_API_KEY="sk-test-1", QWEN_OAUTH_REFRESH_TOKEN=oauth.issue_refresh_token(),
                   QWEN_OAUTH_BASE_URL=oauth.base_url)
    assert select_provider(forced=None, model=None, base_url=None, env=env).kind == "openai"
    assert oauth.requests == []


def test_env_login_comes_before_the_credentials_file(oauth: FakeOAuthServer) -> None:
    write_login(oauth, access="fake-access-file")
    env = env_with(QWEN_OAUTH_REFRESH_TOKEN=oauth.issue_refresh_token(), QWEN_OAUTH_BASE_URL=oauth.base_url)
    config = select_provider(forced=None, model=None, base_url=None, env=env, warn=lambda _: None)
    assert config.source == "QWEN_OAUTH_REFRESH_TOKEN"
    assert config.api_key == oauth.issued_access_tokens[-1]


def test_the_credentials_file_in_qwen_home(oauth: FakeOAuthServer) -> None:
    write_login(oauth, access="fake-access-file")
    config = select_provider(forced=None, model=None, base_url=None, env=env_with(QWEN_OAUTH_BASE_URL=oauth.base_url))
    assert (config.kind, config.api_key, config.base_url, config.model) == (
        "qwen-oauth", "fake-access-file", "https://api.qwen.example/v1", "coder-model")
    assert config.source.endswith("oauth_creds.json")
    assert callable(config.refresh)
    assert oauth.requests == []  # a fresh access token needs no exchange


def test_qwen_home_elsewhere_is_honoured(tmp_path: Path, oauth: FakeOAuthServer) -> None:
    write_login(oauth)  # in the default QWEN_HOME, which is not the one used below
    env = env_with(QWEN_HOME=str(tmp_path / "elsewhere"), QWEN_OAUTH_BASE_URL=oauth.base_url)
    with pytest.raises(CredentialsError):
        select_provider(forced=None, model=None, base_url=None, env=env)


@pytest.mark.parametrize("how", ["argument", "variable"])
def test_forcing_qwen_oauth_skips_the_api_key(how: str, oauth: FakeOAuthServer) -> None:
    write_login(oauth)
    env = env_with(OPENAI_API_KEY="sk-test-1", QWEN_OAUTH_BASE_URL=oauth.base_url)
    if how == "variable":
        env["QWEN_REVIEW_PROVIDER"] = "qwen-oauth"
    config = select_provider(forced="qwen-oauth" if how == "argument" else None, model="qwen3-coder-plus",
                             base_url=None, env=env)
    assert (config.kind, config.model) == ("qwen-oauth", "qwen3-coder-plus")


def test_base_url_never_redirects_a_qwen_oauth_token(oauth: FakeOAuthServer) -> None:
    write_login(oauth)
    env = env_with(OPENAI_BASE_URL="http://attacker.example/v1", QWEN_OAUTH_BASE_URL=oauth.base_url)
    config = select_provider(forced="qwen-oauth", model=None, base_url="http://attacker.example/v1", env=env)
    assert config.base_url == "https://api.qwen.example/v1"


def test_an_endpoint_without_its_key_never_falls_back_to_the_qwen_login(oauth: FakeOAuthServer) -> None:
    # Following the Ollama example but forgetting the key must not send the code to Qwen's cloud.
    write_login(oauth)
    env = env_with(OPENAI_BASE_URL="http://localhost:11434/v1", QWEN_OAUTH_BASE_URL=oauth.base_url)
    with pytest.raises(CredentialsError) as caught:
        select_provider(forced=None, model=None, base_url="http://localhost:11434/v1", env=env)
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        "an OpenAI-compatible endpoint is configured (http://localhost:11434/v1) but OPENAI_API_KEY is not set: "
        "set it (any non-empty value for a local server that checks none)")
    assert "--provider qwen-oauth" in (caught.value.hint or "")
    assert configured_source(env, base_url="http://localhost:11434/v1") is None
    assert oauth.requests == []
    with pytest.raises(CredentialsError) as in_actions:  # a runner: the action's input is the way
        select_provider(forced=None, model=None, base_url="https://llm.example/v1",
                        env=env_with(GITHUB_ACTIONS="true"))
    assert in_actions.value.hint == "pass the key through the action's `api-key` input from a repository secret"


def test_forcing_openai_without_a_key_is_exit_2(oauth: FakeOAuthServer) -> None:
    write_login(oauth)
    with pytest.raises(CredentialsError) as caught:
        select_provider(forced="openai", model=None, base_url=None, env=env_with())
    assert caught.value.exit_code == 2
    assert "OPENAI_API_KEY" in caught.value.message


def test_nothing_configured_names_the_three_ways_and_hints_at_dry_run() -> None:
    with pytest.raises(CredentialsError) as caught:
        select_provider(forced=None, model=None, base_url=None, env=env_with())
    error = caught.value
    assert error.exit_code == 2
    for way in ("OPENAI_API_KEY", "QWEN_OAUTH_REFRESH_TOKEN", "QWEN_OAUTH_CREDS", "qwen-review auth login"):
        assert way in error.message
    assert error.hint is not None and "--dry-run" in error.hint


def test_forcing_qwen_oauth_without_a_login_says_how_to_log_in() -> None:
    with pytest.raises(CredentialsError) as caught:
        select_provider(forced="qwen-oauth", model=None, base_url=None, env=env_with(OPENAI_API_KEY="sk-test-1"))
    assert "auth login" in caught.value.message


def test_an_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="known: openai, qwen-oauth"):
        select_provider(forced="anthropic", model=None, base_url=None, env=env_with(OPENAI_API_KEY="sk-test-1"))


def test_repr_hides_the_key() -> None:
    config = ProviderConfig(kind="openai", base_url="http://x/v1", model="m", api_key="sk-very-secret-1",
                            refresh=None, source="OPENAI_API_KEY")
    assert "sk-very-secret-1" not in repr(config)
    assert "sk-very-secret-1" not in str(config)
    assert "api_key='***'" in repr(config)


def test_configured_source_names_what_select_provider_would_use_without_any_request(
        oauth: FakeOAuthServer) -> None:
    assert configured_source(env_with(OPENAI_API_KEY="  ", QWEN_OAUTH_REFRESH_TOKEN="")) is None  # empty is unset
    both = env_with(OPENAI_API_KEY="sk-test-1", QWEN_OAUTH_REFRESH_TOKEN="rt-1")
    assert configured_source(both) == "OPENAI_API_KEY"
    assert configured_source(both, forced="qwen-oauth") == "QWEN_OAUTH_REFRESH_TOKEN"
    assert configured_source({**both, "QWEN_REVIEW_PROVIDER": "qwen-oauth"}) == "QWEN_OAUTH_REFRESH_TOKEN"
    assert configured_source(env_with(QWEN_OAUTH_REFRESH_TOKEN="rt-1"), forced="openai") is None
    assert configured_source(env_with(QWEN_OAUTH_CREDS=creds_json(refresh_token="rt-2"))) == "QWEN_OAUTH_CREDS"
    assert configured_source(env_with()) is None
    write_login(oauth)
    source = configured_source(env_with())
    assert source is not None and source.endswith("oauth_creds.json")
    assert select_provider(forced=None, model=None, base_url=None,
                           env=env_with(QWEN_OAUTH_BASE_URL=oauth.base_url)).source == source
    assert oauth.requests == []
    with pytest.raises(ConfigError):
        configured_source(env_with(), forced="anthropic")
