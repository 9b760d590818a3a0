"""The whole review pipeline against the fake OpenAI-compatible server: exit codes, report, no finding lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from qwen_review.tokens import estimate_tokens
from tests.clirun import Result, run_cli
from tests.fakes.model_server import ModelServer, RecordedRequest, Reply, error_reply
from tests.gitrepo import GitRepo

CODE = """\
import os


def load(path):
    with open(path) as handle:
        data = handle.read()
    return data


def total(items):
    result = 0
    for item in items:
        result += item.price
    return result
"""


def answer(*findings: dict[str, object], summary: str = "Looks risky.") -> str:
    return json.dumps({"summary": summary, "findings": list(findings)})


def finding(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"path": "shop.py", "line": 13, "side": "RIGHT", "severity": "high",
                               "category": "bug", "title": "Price may be None", "body": "Guard it.",
                               "quote": "result += item.price", "suggestion": None}
    base.update(kw)
    return base


@pytest.fixture
def shop(repo: GitRepo) -> GitRepo:
    repo.write("shop.py", "import os\n")
    repo.commit("base")
    repo.write("shop.py", CODE)
    repo.commit("add shop")
    return repo


def review(repo: GitRepo, server: ModelServer, capsys: pytest.CaptureFixture[str], *args: str,
           env: dict[str, str] | None = None) -> Result:
    full_env = {"OPENAI_API_KEY": "sk-test-key-for-the-fake-server", "OPENAI_BASE_URL": server.base_url,
                "OPENAI_MODEL": "qwen-test", **(env or {})}
    return run_cli(repo.path, "HEAD~1", "-f", "json", "--no-cache", *args, capsys=capsys, env=full_env)


def test_valid_answer_becomes_anchored_findings(shop: GitRepo, model_server: ModelServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    model_server.script(Reply(text=answer(finding())))
    result = review(shop, model_server, capsys, "--fail-on", "high")
    assert result.code == 1, result.err
    report = result.json()
    (only,) = report["findings"]
    assert (only["path"], only["line"], only["anchored"], only["severity"]) == ("shop.py", 13, True, "high")
    assert report["provider"] == {"kind": "openai", "model": "qwen-test", "base_url": model_server.base_url}
    assert report["summary"] == "Looks risky."
    assert report["stats"]["llm_calls"] == 1
    assert report["stats"]["prompt_tokens"] == 11
    assert report["stats"]["completion_tokens"] == 7
    (request,) = model_server.requests
    assert request.body["model"] == "qwen-test"
    assert request.body["response_format"] == {"type": "json_object"}
    prompt = request.prompt_text
    assert "\n13 +        result += item.price\n" in prompt
    assert "untrusted" in prompt


def test_fenced_answer_and_lower_fail_on(shop: GitRepo, model_server: ModelServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    model_server.script(Reply(text=f"```json\n{answer(finding(severity='low'))}\n```"))
    result = review(shop, model_server, capsys, "--fail-on", "medium")
    assert result.code == 0, result.err
    assert result.json()["findings"][0]["severity"] == "low"


def test_prose_then_repaired_answer(shop: GitRepo, model_server: ModelServer,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    model_server.script(Reply(text="The code looks fine to me, but price could be None."),
                        Reply(text=answer(finding())))
    result = review(shop, model_server, capsys)
    assert result.code == 0, result.err
    assert len(result.json()["findings"]) == 1
    _first, second = model_server.requests
    repair = second.body["messages"]
    assert repair[-2] == {"role": "assistant", "content": "The code looks fine to me, but price could be None."}
    assert "could not be used" in repair[-1]["content"]
    assert result.json()["stats"]["llm_calls"] == 2


def test_wrong_types_twice_fails_the_unit(shop: GitRepo, model_server: ModelServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = Reply(text='{"findings": [{"path": "shop.py", "line": "thirteen", "title": "x"}]}')
    model_server.script(bad, bad)
    result = review(shop, model_server, capsys)
    assert result.code == 3
    assert "no unit got a valid answer" in result.err
    report = result.json()
    assert report["stats"]["failed_units"] == 1
    assert report["failed_units"][0]["files"] == ["shop.py"]
    assert "findings.0.line" in report["failed_units"][0]["reason"]
    assert report["summary"] == "1 of 1 review unit could not be reviewed."
    model_server.script(bad, bad)
    warned = review(shop, model_server, capsys, "--on-error", "warn")
    assert warned.code == 0
    assert "warning" in warned.err


def test_truncated_answer_is_not_parsed(shop: GitRepo, model_server: ModelServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cut = Reply(text=answer(finding()), finish_reason="length")
    model_server.script(cut, Reply(text=answer(finding(title="Shorter"))))
    result = review(shop, model_server, capsys)
    assert result.code == 0
    assert [f["title"] for f in result.json()["findings"]] == ["Shorter"]
    assert "cut off" in model_server.requests[1].body["messages"][-1]["content"]


def test_findings_off_the_diff_off_by_n_and_duplicates_are_all_kept(
        shop: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    model_server.script(Reply(text=answer(
        finding(line=16, title="Off by three"),  # quote says line 13
        finding(line=400, quote=None, title="Somewhere else"),
        finding(path="other.py", title="Wrong file"),
        finding(line=13, title="Price may be None", severity="medium"),  # duplicate of the next one
        finding(line=13, title="price  may be none", severity="critical"),
    )))
    result = review(shop, model_server, capsys)
    by_title = {f["title"].lower(): f for f in result.json()["findings"]}
    assert by_title["off by three"]["line"] == 13
    assert by_title["off by three"]["anchored"] is True
    assert by_title["somewhere else"]["anchored"] is False
    assert by_title["wrong file"]["anchored"] is False
    assert by_title["price  may be none"]["severity"] == "critical"
    assert len(by_title) == 4


def test_retries_429_with_retry_after_500_and_dropped_connection(
        shop: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    model_server.script(
        error_reply(429, "Rate limit reached", headers={"Retry-After": "0"}),
        error_reply(500, "upstream failed"),
        Reply(drop=True),
        Reply(text=answer(finding())),
    )
    result = review(shop, model_server, capsys)
    assert result.code == 0, result.err
    assert len(result.json()["findings"]) == 1
    assert len(model_server.requests) == 4
    assert result.json()["stats"]["llm_calls"] == 4  # every request sent, retries included


def test_quota_exhausted_is_not_retried(shop: GitRepo, model_server: ModelServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    model_server.script(error_reply(429, "You exceeded your current quota", code="insufficient_quota"))
    result = review(shop, model_server, capsys)
    assert result.code == 3
    assert "quota" in result.err
    assert len(model_server.requests) == 1
    assert result.json()["stats"]["llm_calls"] == 1  # a request that failed was still sent
    assert "sk-test-key" not in result.err + result.out


def test_slow_answer_past_the_time_budget(shop: GitRepo, model_server: ModelServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    model_server.fallback = Reply(text=answer(), delay=5)
    result = review(shop, model_server, capsys, "--timeout", "1")
    assert result.code == 3
    assert result.json()["stats"]["failed_units"] == 1


def test_unauthorised_key_is_exit_2(shop: GitRepo, model_server: ModelServer,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    model_server.required_token = "another-key"
    result = review(shop, model_server, capsys)
    assert result.code == 2
    assert "sk-test-key" not in result.err


def test_no_provider_is_exit_2_with_the_ways_to_configure(shop: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(shop.path, "HEAD~1", capsys=capsys)
    assert result.code == 2
    assert "OPENAI_API_KEY" in result.err
    assert "--dry-run" in result.err


def test_secrets_never_reach_the_server(repo: GitRepo, model_server: ModelServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    aws = "AKIA" + "QWERTYUIOPASDFGH"
    repo.write("settings.py", "DEBUG = False\n")
    repo.commit("base")
    repo.write("settings.py", f'DEBUG = False\nGITHUB_TOKEN = "{token}"\nAWS_ACCESS_KEY_ID = "{aws}"\n')
    repo.commit("oops")
    result = review(repo, model_server, capsys)
    sent = json.dumps([r.body for r in model_server.requests])
    assert token not in sent
    assert aws not in sent
    assert "[REDACTED:" in sent
    report = result.json()
    assert report["stats"]["redactions"] == 2
    local = [f for f in report["findings"] if f["category"] == "security"]
    assert len(local) == 2
    assert all(f["severity"] == "high" and f["anchored"] for f in local)
    assert token not in result.out + result.err
    dry = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", capsys=capsys)
    assert token not in dry.out
    assert dry.json()["stats"]["redactions"] == 2


def test_cache_makes_a_rerun_free(shop: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": model_server.base_url,
           "QWEN_REVIEW_CACHE_DIR": str(tmp_path / "cache")}
    model_server.fallback = Reply(text=answer(finding()))
    first = run_cli(shop.path, "HEAD~1", "-f", "json", capsys=capsys, env=env)
    assert first.json()["stats"]["llm_calls"] == 1
    second = run_cli(shop.path, "HEAD~1", "-f", "json", capsys=capsys, env=env)
    assert second.json()["stats"]["llm_calls"] == 0
    assert second.json()["stats"]["cached_units"] == 1
    assert second.json()["findings"] == first.json()["findings"]
    assert len(model_server.requests) == 1
    for entry in (tmp_path / "cache").rglob("*.json"):
        entry.write_text("{corrupt")
    third = run_cli(shop.path, "HEAD~1", "-f", "json", capsys=capsys, env=env)
    assert third.code == 0
    assert third.json()["stats"]["llm_calls"] == 1
    fourth = run_cli(shop.path, "HEAD~1", "-f", "json", "--no-cache", capsys=capsys, env=env)
    assert fourth.json()["stats"]["llm_calls"] == 1


def test_many_units_run_concurrently_and_dry_run_shows_exactly_what_is_sent(
        repo: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("base.txt", "x\n")
    repo.commit("base")
    for i in range(6):
        repo.write(f"mod{i}.py", "".join(f"value_{i}_{n} = compute({n}) + offset_{n}\n" for n in range(120)))
    repo.commit("six modules")
    repo.write(".qwen-review.toml", "max_prompt_tokens = 2500\n")
    dry = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", capsys=capsys)
    requests = dry.json()["requests"]
    assert len(requests) >= 6
    assert all(r["estimated_tokens"] <= 2500 for r in requests)
    # The chunker's cost model is an upper bound of what is really rendered.
    for r in requests:
        assert sum(estimate_tokens(m["content"]) for m in r["messages"]) <= r["estimated_tokens"]
    result = review(repo, model_server, capsys, "--concurrency", "3")
    assert result.code == 0, result.err
    assert result.json()["stats"]["units"] == len(requests)
    sent = sorted(json.dumps(r.body["messages"], sort_keys=True) for r in model_server.requests)
    planned = sorted(json.dumps(r["messages"], sort_keys=True) for r in requests)
    assert sent == planned


def test_language_instructions_and_template_override(shop: GitRepo, model_server: ModelServer,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    result = review(shop, model_server, capsys, "--language", "zh-CN", "--instructions", "Check money math.")
    assert result.code == 0
    system = model_server.requests[0].body["messages"][0]["content"]
    assert "zh-CN" in system
    assert "Check money math." in system
    override = shop.path / ".qwen-review" / "templates"
    override.mkdir(parents=True)
    (override / "system.j2").write_text("CUSTOM SYSTEM PROMPT {{ begin_marker }}\n")
    result = review(shop, model_server, capsys)
    assert model_server.requests[-1].body["messages"][0]["content"].startswith("CUSTOM SYSTEM PROMPT <<<BEGIN-DIFF-")
    (override / "system.j2").write_text("{{ no_such_variable }}\n")
    broken = review(shop, model_server, capsys)
    assert broken.code == 2
    assert "system.j2" in broken.err


def test_markdown_and_sarif_formats(shop: GitRepo, model_server: ModelServer,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    model_server.fallback = Reply(text=answer(finding()))
    markdown = review(shop, model_server, capsys, "-f", "markdown")
    assert "Price may be None" in markdown.out
    sarif = review(shop, model_server, capsys, "-f", "sarif")
    assert json.loads(sarif.out)["version"] == "2.1.0"


def test_unreachable_oauth_token_server_follows_on_error(shop: GitRepo, isolated_env: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An expired Qwen Code login whose token server is down: a provider failure, not a crash."""
    from tests.fakes.oauth_server import creds_json
    from tests.hookutil import closed_port_url

    qwen_home = isolated_env / ".qwen"
    qwen_home.mkdir()
    (qwen_home / "oauth_creds.json").write_text(creds_json(refresh_token="r", expires_in_s=-60))
    env = {"QWEN_OAUTH_BASE_URL": closed_port_url().removesuffix("/v1")}
    failed = run_cli(shop.path, "HEAD~1", "-f", "json", capsys=capsys, env=env)
    assert failed.code == 3
    assert failed.json()["failed_units"][0]["files"] == ["shop.py"]
    warned = run_cli(shop.path, "HEAD~1", "-f", "json", "--on-error", "warn", capsys=capsys, env=env)
    assert warned.code == 0
    assert "warning" in warned.err


def test_dry_run_reports_no_findings_but_counts_secrets(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("conf.py", "x = 1\n")
    repo.commit("base")
    repo.write("conf.py", 'x = 1\nTOKEN = "ghp_' + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2" + '"\n')
    repo.commit("token")
    dry = run_cli(repo.path, "HEAD~1", "--dry-run", "-f", "json", "--fail-on", "info", capsys=capsys)
    assert dry.code == 0
    assert dry.json()["findings"] == []
    assert dry.json()["stats"]["redactions"] == 1


def _by_file(broken: Reply, good: Reply) -> Callable[[RecordedRequest], Reply]:
    return lambda request: broken if "=== second.py" in request.prompt_text else good


def test_a_provider_failure_on_some_units_is_exit_3(two_units: GitRepo, model_server: ModelServer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A gate must not pass on a partial review: the endpoint failing for one unit fails the run."""
    model_server.fallback = _by_file(error_reply(400, "bad request for this unit"), Reply(text=answer()))
    result = review(two_units, model_server, capsys)
    assert result.code == 3, result.err
    report = result.json()
    assert report["stats"]["units"] == 2
    assert report["stats"]["files_reviewed"] == 1
    assert [(u["files"], u["cause"]) for u in report["failed_units"]] == [(["second.py"], "provider")]
    assert "second.py" in result.err
    warned = review(two_units, model_server, capsys, "--on-error", "warn")
    assert warned.code == 0
    assert "continuing (on_error = warn)" in warned.err


def test_unusable_answers_for_some_units_only_warn(two_units: GitRepo, model_server: ModelServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    model_server.fallback = _by_file(Reply(text="no JSON here"), Reply(text=answer()))
    result = review(two_units, model_server, capsys)
    assert result.code == 0, result.err
    assert result.json()["failed_units"][0]["cause"] == "answer"
    assert "got no valid answer; not reviewed: second.py" in result.err


def test_malformed_findings_left_out_on_the_repair_attempt_are_reported(
        shop: GitRepo, model_server: ModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {"path": "shop.py", "line": 13, "title": "x", "severity": "apocalyptic"}
    model_server.script(Reply(text=answer(finding(), bad)), Reply(text=answer(finding(), bad)))
    result = review(shop, model_server, capsys)
    assert result.code == 0, result.err
    report = result.json()
    assert [f["title"] for f in report["findings"]] == ["Price may be None"]
    assert "1 malformed finding(s)" in report["summary"]
    assert "1 malformed finding(s)" in result.err


def test_a_secret_being_deleted_does_not_fail_a_high_gate(repo: GitRepo, model_server: ModelServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("old.py", 'TOKEN = "ghp_' + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8" + '"\n')
    repo.commit("base")
    (repo.path / "old.py").unlink()
    repo.commit("remove the token")
    result = review(repo, model_server, capsys, "--fail-on", "high")
    assert result.code == 0, result.err
    (local,) = result.json()["findings"]
    assert (local["severity"], local["side"], local["category"]) == ("low", "LEFT", "security")
    assert "rotate" in local["body"]
