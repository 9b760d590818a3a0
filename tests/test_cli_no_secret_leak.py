"""Whole CLI runs with each kind of credential: no token in stdout, stderr, the report, the log or telemetry."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clirun import Result, run_cli
from tests.fakes.model_server import ModelServer, Reply
from tests.fakes.oauth_server import FakeOAuthServer, creds_json
from tests.gitrepo import GitRepo

API_KEY = "sk-leakcheck-cli-key-0002"
ANSWER = json.dumps({"summary": "One problem.", "findings": [
    {"path": "app.py", "line": 2, "side": "RIGHT", "severity": "high", "category": "bug", "title": "Bad",
     "body": "Explained.", "quote": "value = compute()", "suggestion": None}]})


@pytest.fixture
def changed(repo: GitRepo) -> GitRepo:
    repo.write("app.py", "import os\n")
    repo.commit("base")
    repo.write("app.py", "import os\nvalue = compute()\n")
    repo.commit("change")
    return repo


@pytest.fixture
def oauth(model_server: ModelServer) -> Iterator[FakeOAuthServer]:
    # The token's resource_url is the fake model server, as Qwen's is the Qwen API.
    with FakeOAuthServer(resource_url=model_server.base_url) as server:
        yield server


def runs(repo: GitRepo, capsys: pytest.CaptureFixture[str], env: dict[str, str], tmp_path: Path) -> list[str]:
    """A verbose review in every format, plus `auth status`; returns every text they produced."""
    telemetry = tmp_path / "telemetry.jsonl"
    env = {**env, "QWEN_REVIEW_TELEMETRY": "1", "QWEN_REVIEW_TELEMETRY_FILE": str(telemetry),
           "QWEN_REVIEW_CACHE_DIR": str(tmp_path / "cache")}
    texts: list[str] = []
    for fmt in ("json", "text", "markdown", "sarif"):
        report = tmp_path / f"report.{fmt}"
        result: Result = run_cli(repo.path, "HEAD~1", "-vv", "-f", fmt, "-o", str(report), "--no-cache",
                                 capsys=capsys, env=env)
        assert result.code == 0, result.err
        texts += [result.out, result.err, report.read_text()]
    status = run_cli(repo.path, "auth", "status", capsys=capsys, env=env)
    texts += [status.out, status.err]
    assert telemetry.read_text().count('"event": "run"') == 4
    texts.append(telemetry.read_text())
    return texts


def assert_clean(texts: list[str], secrets: set[str], caplog: pytest.LogCaptureFixture) -> None:
    texts = [*texts, caplog.text]
    assert any("Bad" in text for text in texts)  # the runs really reviewed something
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_api_key(changed: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str],
                 caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    model_server.fallback = Reply(text=ANSWER)
    texts = runs(changed, capsys, {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": model_server.base_url}, tmp_path)
    assert all(r.bearer_is(API_KEY) for r in model_server.requests)
    model_server.required_token = "another"
    rejected = run_cli(changed.path, "HEAD~1", "-vv", "--no-cache", capsys=capsys,
                       env={"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": model_server.base_url})
    assert rejected.code == 2
    assert_clean([*texts, rejected.out, rejected.err], {API_KEY}, caplog)


def test_ci_refresh_token(changed: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str],
                          caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    model_server.fallback = Reply(text=ANSWER)
    # No rotation here: the same secret serves several runs (rotation has its own tests).
    with FakeOAuthServer(resource_url=model_server.base_url, rotate=False) as oauth:
        refresh = oauth.issue_refresh_token()
        _ci_runs(changed, model_server, oauth, refresh, capsys, caplog, tmp_path)


def _ci_runs(changed: GitRepo, model_server: ModelServer, oauth: FakeOAuthServer, refresh: str,
             capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    texts = runs(changed, capsys, {"QWEN_OAUTH_REFRESH_TOKEN": refresh, "QWEN_OAUTH_BASE_URL": oauth.base_url},
                 tmp_path)
    assert oauth.issued_access_tokens
    assert any(r.bearer_is(oauth.issued_access_tokens[0]) for r in model_server.requests)
    assert_clean(texts, {refresh, *oauth.issued_access_tokens, *oauth.issued_refresh_tokens}, caplog)


def test_qwen_code_login_file(changed: GitRepo, model_server: ModelServer, oauth: FakeOAuthServer,
                              capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
                              tmp_path: Path, isolated_env: Path) -> None:
    caplog.set_level(logging.DEBUG)
    model_server.fallback = Reply(text=ANSWER)
    refresh = oauth.issue_refresh_token()
    qwen_home = isolated_env / ".qwen"
    qwen_home.mkdir()
    # An expired access token: the run refreshes it (and writes the rotated token back) first.
    (qwen_home / "oauth_creds.json").write_text(creds_json(refresh_token=refresh, access_token="expired-access-token",
                                                           expires_in_s=-60, resource_url=model_server.base_url))
    texts = runs(changed, capsys, {"QWEN_OAUTH_BASE_URL": oauth.base_url}, tmp_path)
    assert oauth.counts["refresh"] >= 1
    stored = json.loads((qwen_home / "oauth_creds.json").read_text())
    assert stored["refresh_token"] in oauth.issued_refresh_tokens
    assert_clean(texts, {refresh, "expired-access-token", *oauth.issued_access_tokens,
                         *oauth.issued_refresh_tokens}, caplog)


def test_a_password_in_the_base_url(changed: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str],
                                    caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # A gateway that takes its credentials in the URL; reports and logs show the URL without them.
    caplog.set_level(logging.DEBUG)
    model_server.fallback = Reply(text=ANSWER)
    password = "gw-pass-0003-leakcheck"
    base_url = model_server.base_url.replace("http://", f"http://gateway-user:{password}@")
    texts = runs(changed, capsys, {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url}, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["provider"]["base_url"] == model_server.base_url
    model_server.fallback = Reply(status=500, body={"error": {"message": f"upstream {base_url} failed"}})
    failed = run_cli(changed.path, "HEAD~1", "-vv", "--no-cache", capsys=capsys,
                     env={"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url, "QWEN_REVIEW_TIMEOUT": "3"})
    assert failed.code == 3
    # The HTTP library's own debug log (not shown by -vv, which shows qwen-review's) names the URL
    # it was given; what qwen-review logs, prints and writes must not.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("qwen_review"))
    for text in [*texts, failed.out, failed.err, ours]:
        assert password not in text and API_KEY not in text
    assert "Bad" in texts[2]  # the JSON report: the run really reviewed something
