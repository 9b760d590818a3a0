"""Qwen OAuth against a token endpoint on 127.0.0.1: refresh, rotation, failures, CI secrets, locking, file modes."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_review.errors import ConfigError, CredentialsError, ProviderError
from qwen_review.providers.credentials_file import (
    LOCK_FILENAME,
    QwenCredentials,
    credentials_lock,
    read_credentials,
)
from qwen_review.providers.oauth_http import api_base_url, exchange_refresh_token, oauth_base_url
from qwen_review.providers.select import select_provider
from tests.fakes.github_server import TOKEN as GITHUB_TOKEN
from tests.fakes.github_server import FakeGitHub
from tests.fakes.oauth_server import FakeOAuthServer, creds_json


@pytest.fixture
def oauth() -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(resource_url="https://api.qwen.example") as server:
        yield server


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def creds_path() -> Path:
    return Path(os.environ["QWEN_HOME"]) / "oauth_creds.json"


def write_login(oauth: FakeOAuthServer, *, expires_in_s: float, access: str = "fake-access-old") -> str:
    refresh = oauth.issue_refresh_token()
    creds_path().parent.mkdir(parents=True, exist_ok=True)
    creds_path().write_text(creds_json(refresh_token=refresh, access_token=access, expires_in_s=expires_in_s,
                                       resource_url="https://api.qwen.example"))
    return refresh


def local_env(oauth: FakeOAuthServer, **extra: str) -> dict[str, str]:
    return {"HOME": os.environ["HOME"], "QWEN_HOME": os.environ["QWEN_HOME"], "QWEN_OAUTH_BASE_URL": oauth.base_url,
            **extra}


def no_retry(seconds: float) -> None:
    pytest.fail(f"retried after {seconds} s where no retry was expected")


def test_base_url_from_resource_url() -> None:
    assert api_base_url("portal.qwen.ai") == "https://portal.qwen.ai/v1"
    assert api_base_url("https://gw.example/v1") == "https://gw.example/v1"
    assert api_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/v1"
    assert api_base_url(None) == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert oauth_base_url({}) == "https://chat.qwen.ai"
    assert oauth_base_url({"QWEN_OAUTH_BASE_URL": "http://127.0.0.1:9/"}) == "http://127.0.0.1:9"


def test_an_expired_access_token_is_refreshed_before_the_first_call(oauth: FakeOAuthServer) -> None:
    old_refresh = write_login(oauth, expires_in_s=-60)
    config = select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    assert oauth.counts["refresh"] == 1
    path, form = oauth.requests[0]
    assert path == "/api/v1/oauth2/token"
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == old_refresh
    assert form["client_id"] == "f0304373b74a44d2b584a3fb70ca9e56"
    assert config.api_key == oauth.issued_access_tokens[-1]
    assert config.base_url == "https://api.qwen.example/v1"
    stored = read_credentials(creds_path())
    assert stored is not None and stored.access_token == config.api_key
    assert stored.refresh_token != old_refresh and stored.refresh_token in oauth.valid_refresh_tokens
    assert stored.is_fresh()


def test_a_token_expiring_within_30_seconds_is_refreshed(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=20)
    select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    assert oauth.counts["refresh"] == 1


def test_rotation_rejects_the_old_refresh_token_and_the_file_keeps_the_new_one(oauth: FakeOAuthServer) -> None:
    old_refresh = write_login(oauth, expires_in_s=-1)
    select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    with pytest.raises(CredentialsError) as caught:
        exchange_refresh_token(QwenCredentials(refresh_token=old_refresh), token_url=oauth.base_url + "/api/v1/oauth2/token",
                               relogin_hint="log in")
    assert "invalid_grant" in caught.value.message
    # The stored one still works: a second run refreshes from the file without any error.
    os.utime(creds_path())
    stored = read_credentials(creds_path())
    assert stored is not None
    assert exchange_refresh_token(stored, token_url=oauth.base_url + "/api/v1/oauth2/token",
                                  relogin_hint="log in").access_token


def test_refresh_forces_a_new_token_and_writes_it_back(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=3600, access="fake-access-still-valid")
    config = select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    assert config.api_key == "fake-access-still-valid" and oauth.counts["refresh"] == 0
    assert config.refresh is not None
    new_token = config.refresh()  # what the chat client does after a 401
    assert new_token == oauth.issued_access_tokens[-1] != "fake-access-still-valid"
    stored = read_credentials(creds_path())
    assert stored is not None and stored.access_token == new_token
    assert config.refresh() != new_token  # each call really refreshes
    assert oauth.counts["refresh"] == 2


def test_refresh_adopts_a_token_another_process_already_refreshed(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=3600, access="fake-access-A")
    config = select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    other = oauth.issue_refresh_token()
    creds_path().write_text(creds_json(refresh_token=other, access_token="fake-access-B", expires_in_s=3600))
    assert config.refresh is not None
    assert config.refresh() == "fake-access-B"
    assert oauth.counts["refresh"] == 0


def test_a_server_that_does_not_rotate_keeps_the_refresh_token() -> None:
    with FakeOAuthServer(rotate=False) as server:
        refresh = write_login(server, expires_in_s=-1)
        select_provider(forced=None, model=None, base_url=None, env=local_env(server))
        stored = read_credentials(creds_path())
        assert stored is not None and stored.refresh_token == refresh


def test_invalid_grant_is_exit_2_log_in_again_without_retry(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=-1)
    oauth.valid_refresh_tokens.clear()
    with pytest.raises(CredentialsError) as caught:
        select_provider(forced=None, model=None, base_url=None, env=local_env(oauth), sleep=no_retry)
    assert caught.value.exit_code == 2
    assert "log in again" in caught.value.message and "invalid_grant" in caught.value.message
    assert caught.value.hint is not None and "auth login" in caught.value.hint
    assert oauth.counts["refresh"] == 1


def test_no_access_surfaces_the_servers_message_and_the_discontinuation(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=-1)
    oauth.script(403, {"error": "access_denied", "error_description": "Free tier is no longer available for this account"})
    with pytest.raises(CredentialsError) as caught:
        select_provider(forced=None, model=None, base_url=None, env=local_env(oauth), sleep=no_retry)
    assert "Free tier is no longer available for this account" in caught.value.message
    assert caught.value.hint is not None and "2026-04-15" in caught.value.hint


def test_server_errors_are_retried_with_retry_after(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=-1)
    oauth.script(503, {"error": "unavailable"}, headers={"Retry-After": "3"})
    oauth.script(502, {"error": "bad_gateway"})
    sleeps: list[float] = []
    config = select_provider(forced=None, model=None, base_url=None, env=local_env(oauth), sleep=sleeps.append)
    assert sleeps == [3.0, 2.0]
    assert oauth.counts["refresh"] == 3 and config.api_key == oauth.issued_access_tokens[-1]


def test_persistent_server_errors_end_as_a_provider_error(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=-1)
    oauth.script(500, {"error": "server_error"}, times=10)
    with pytest.raises(ProviderError) as caught:
        select_provider(forced=None, model=None, base_url=None, env=local_env(oauth), sleep=lambda _: None)
    assert caught.value.exit_code == 3
    assert oauth.counts["refresh"] == 4
    assert "500" in caught.value.message


def test_a_refused_connection_is_retried_at_most_twice() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(ProviderError, match="connection refused"):
        exchange_refresh_token(QwenCredentials(refresh_token="fake-refresh-x"),
                               token_url=f"http://127.0.0.1:{port}/api/v1/oauth2/token", relogin_hint="",
                               sleep=sleeps.append)
    assert len(sleeps) == 2


def test_ci_refresh_token_without_secret_storage_warns_that_the_secret_is_stale(oauth: FakeOAuthServer) -> None:
    refresh = oauth.issue_refresh_token()
    warnings: list[str] = []
    env = local_env(oauth, CI="true", QWEN_OAUTH_REFRESH_TOKEN=refresh)
    config = select_provider(forced=None, model=None, base_url=None, env=env, warn=warnings.append)
    assert config.kind == "qwen-oauth" and config.source == "QWEN_OAUTH_REFRESH_TOKEN"
    assert config.base_url == "https://api.qwen.example/v1"
    assert len(warnings) == 1
    assert "stale" in warnings[0] and "QWEN_OAUTH_SECRET_NAME" in warnings[0]
    assert "QWEN_REVIEW_SECRETS_TOKEN" in warnings[0]
    assert not creds_path().exists()  # a CI login never touches the local file


def test_a_refresh_token_variable_on_a_developers_machine_leaves_the_new_login_in_the_file(
        oauth: FakeOAuthServer) -> None:
    # Outside CI nothing could store the rotated token in a secret: without the file, the next run would fail.
    old = oauth.issue_refresh_token()
    warnings: list[str] = []
    env = local_env(oauth, QWEN_OAUTH_REFRESH_TOKEN=old)
    config = select_provider(forced=None, model=None, base_url=None, env=env, warn=warnings.append)
    saved = read_credentials(creds_path())
    assert saved is not None and saved.refresh_token in oauth.valid_refresh_tokens and saved.refresh_token != old
    assert saved.access_token == config.api_key
    assert stat.S_IMODE(creds_path().stat().st_mode) == 0o600
    [warning] = warnings
    assert "the new login was saved to" in warning and "unset QWEN_OAUTH_REFRESH_TOKEN" in warning
    assert "QWEN_OAUTH_SECRET_NAME" not in warning  # no GitHub advice on a laptop
    # A login already in the file is never replaced by one from the environment.
    before = creds_path().read_text()
    again: list[str] = []
    select_provider(forced=None, model=None, base_url=None,
                    env=local_env(oauth, QWEN_OAUTH_REFRESH_TOKEN=oauth.issue_refresh_token()), warn=again.append)
    assert creds_path().read_text() == before
    assert "already holds a login, so the new one was not saved" in again[0]


def test_ci_rotation_is_stored_into_the_repository_secret(oauth: FakeOAuthServer, github: FakeGitHub) -> None:
    old = oauth.issue_refresh_token()
    warnings: list[str] = []
    env = local_env(oauth, GITHUB_ACTIONS="true", QWEN_OAUTH_REFRESH_TOKEN=old,
                    QWEN_OAUTH_SECRET_NAME="QWEN_REFRESH", QWEN_REVIEW_SECRETS_TOKEN=GITHUB_TOKEN,
                    GITHUB_REPOSITORY="octo/repo", GITHUB_API_URL=github.base_url)
    select_provider(forced=None, model=None, base_url=None, env=env, warn=warnings.append)
    assert warnings == []
    stored = github.decrypt_secret("octo/repo", "QWEN_REFRESH")
    assert stored != old and stored in oauth.valid_refresh_tokens and old not in oauth.valid_refresh_tokens
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/octo/repo/actions/secrets/public-key"),
        ("PUT", "/repos/octo/repo/actions/secrets/QWEN_REFRESH")]


def test_ci_rotation_of_creds_json_stores_the_whole_file(oauth: FakeOAuthServer, github: FakeGitHub) -> None:
    old = oauth.issue_refresh_token()
    env = local_env(oauth, CI="1", QWEN_OAUTH_CREDS=creds_json(refresh_token=old, expires_in_s=-5),
                    QWEN_OAUTH_SECRET_NAME="QWEN_CREDS", QWEN_REVIEW_SECRETS_TOKEN=GITHUB_TOKEN,
                    GITHUB_REPOSITORY="octo/repo", GITHUB_API_URL=github.base_url)
    config = select_provider(forced=None, model=None, base_url=None, env=env, warn=pytest.fail)
    stored = json.loads(github.decrypt_secret("octo/repo", "QWEN_CREDS"))
    assert stored["access_token"] == config.api_key
    assert stored["refresh_token"] in oauth.valid_refresh_tokens
    assert stored["expiry_date"] > time.time() * 1000


def test_a_fresh_creds_json_needs_no_exchange(oauth: FakeOAuthServer) -> None:
    env = local_env(oauth, QWEN_OAUTH_CREDS=creds_json(refresh_token="fake-refresh-unused", access_token="fake-access-ci",
                                                       resource_url="portal.qwen.example"))
    config = select_provider(forced=None, model=None, base_url=None, env=env)
    assert (config.api_key, config.base_url) == ("fake-access-ci", "https://portal.qwen.example/v1")
    assert oauth.requests == []


def test_a_failed_secret_store_warns_and_the_run_goes_on(oauth: FakeOAuthServer, github: FakeGitHub) -> None:
    warnings: list[str] = []
    env = local_env(oauth, CI="true", QWEN_OAUTH_REFRESH_TOKEN=oauth.issue_refresh_token(),
                    QWEN_OAUTH_SECRET_NAME="QWEN_REFRESH", QWEN_REVIEW_SECRETS_TOKEN="ghp_FAKE_wrong_token_1111",
                    GITHUB_REPOSITORY="octo/repo", GITHUB_API_URL=github.base_url)
    config = select_provider(forced=None, model=None, base_url=None, env=env, warn=warnings.append)
    assert config.api_key == oauth.issued_access_tokens[-1]
    assert len(warnings) == 1 and "stale" in warnings[0] and "401" in warnings[0]
    assert github.secrets == {}


def test_credentials_file_is_0600_in_a_0700_directory(oauth: FakeOAuthServer) -> None:
    write_login(oauth, expires_in_s=-1)
    os.chmod(creds_path(), 0o644)
    os.chmod(creds_path().parent, 0o755)
    select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    assert stat.S_IMODE(creds_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(creds_path().parent.stat().st_mode) == 0o700
    assert [p.name for p in creds_path().parent.iterdir()] == ["oauth_creds.json"]  # no temp or lock file left


def test_a_stale_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    target = tmp_path / "qwen" / "oauth_creds.json"
    target.parent.mkdir()
    lock = target.with_name(LOCK_FILENAME)
    lock.write_text("someone-who-died")
    old = time.time() - 60
    os.utime(lock, (old, old))
    with credentials_lock(target, timeout_s=2):
        assert lock.read_text() != "someone-who-died"
    assert not lock.exists()


def test_a_held_lock_makes_the_second_holder_wait_then_time_out(tmp_path: Path) -> None:
    target = tmp_path / "oauth_creds.json"
    with credentials_lock(target), pytest.raises(CredentialsError, match="timed out"), credentials_lock(target, timeout_s=0.3):
        pytest.fail("the lock was taken twice")
    assert not target.with_name(LOCK_FILENAME).exists()


CHILD = textwrap.dedent("""
    import hashlib, os, sys, time
    from pathlib import Path
    go = Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.005)
    from qwen_review.providers.select import select_provider
    config = select_provider(forced=None, model=None, base_url=None, env=dict(os.environ))
    print(hashlib.sha256(config.api_key.encode()).hexdigest())
""")


def test_two_processes_refreshing_at_the_same_moment_make_one_request(tmp_path: Path) -> None:
    with FakeOAuthServer(resource_url="https://api.qwen.example", token_delay=0.5) as oauth:
        write_login(oauth, expires_in_s=-1)
        go = tmp_path / "go"
        env = {**os.environ, "QWEN_OAUTH_BASE_URL": oauth.base_url}
        # Import first, then start both at once: each waits for the go file before selecting.
        children = [subprocess.Popen([sys.executable, "-c", CHILD, str(go)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(2)]
        time.sleep(0.3)
        go.touch()
        outputs = [child.communicate(timeout=60) for child in children]
        assert [child.returncode for child in children] == [0, 0], outputs
        assert oauth.counts["refresh"] == 1
        stored = read_credentials(creds_path())
        assert stored is not None
        expected = hashlib.sha256(stored.access_token.encode()).hexdigest()
        assert [out.strip() for out, _ in outputs] == [expected, expected]


def test_an_oauth_server_url_without_a_scheme_is_a_config_error() -> None:
    env = {"HOME": os.environ["HOME"], "QWEN_HOME": os.environ["QWEN_HOME"], "QWEN_OAUTH_BASE_URL": "chat.qwen.example",
           "QWEN_OAUTH_REFRESH_TOKEN": "fake-refresh-1"}
    with pytest.raises(ConfigError, match="QWEN_OAUTH_BASE_URL") as caught:
        select_provider(forced=None, model=None, base_url=None, env=env, sleep=no_retry)
    assert caught.value.exit_code == 2


def test_a_damaged_login_says_how_to_repair_it(oauth: FakeOAuthServer) -> None:
    creds_path().parent.mkdir(parents=True, exist_ok=True)
    creds_path().write_text('{"refresh_token": "fake-refresh-cut", "access_tok')  # cut by a full disk, say
    with pytest.raises(CredentialsError) as damaged:
        select_provider(forced=None, model=None, base_url=None, env=local_env(oauth))
    assert damaged.value.message.endswith("oauth_creds.json: not valid JSON (line 1)")
    assert damaged.value.hint == "log in again with `qwen-review auth login` (it replaces the file)"
    assert "fake-refresh-cut" not in damaged.value.message
    with pytest.raises(CredentialsError) as variable:
        select_provider(forced=None, model=None, base_url=None, env=local_env(oauth, QWEN_OAUTH_CREDS="{}"))
    assert variable.value.hint == "put the whole content of a credentials file into QWEN_OAUTH_CREDS"
