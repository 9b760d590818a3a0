"""Telemetry: off unless turned on, always off in CI, allow-listed fields only, file and OTLP sinks, never raises."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from qwen_review.review import Stats
from qwen_review.telemetry import CI_VARIABLES, RunEvent, record, run_event, telemetry_state
from tests.fakes.loopback import LoopbackServer

SECRETS = ("sk-telemetry-secret-1", "fake-refresh-telemetry-2")
# Things a careless event could carry: a path, a repository name, an endpoint, diff text, a prompt.
FORBIDDEN = (*SECRETS, "/home/alice", "alice", "octo/repo", "http://", "https://", "127.0.0.1", "+def leak",
             "Review this diff", "secret-project")
ALLOWED_KEYS = {"event", "tool_version", "python_version", "provider_kind", "model", "duration_s", "files",
                "files_reviewed", "units", "llm_calls", "cached_units", "failed_units", "findings", "prompt_tokens",
                "completion_tokens", "redactions", "error_classes"}


class Collector(LoopbackServer):
    """An OTLP/HTTP receiver on 127.0.0.1 keeping every POST body by path."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.posts.append((self.path, body))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    @property
    def endpoint(self) -> str:
        return self.origin


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


def sample_event() -> RunEvent:
    stats = Stats(files=3, files_reviewed=2, units=2, llm_calls=3, cached_units=0, failed_units=1,
                  prompt_tokens=1200, completion_tokens=300, redactions=1, duration_s=4.25)
    return run_event(stats=stats, provider_kind="openai", model="/home/alice/secret-project/models/qwen3-coder.gguf",
                     findings=5, error_classes=["ProviderError", "ValueError: /home/alice/x.py leaked", "ProviderError"])


def test_off_unless_turned_on() -> None:
    enabled, reason = telemetry_state(False, {})
    assert not enabled and reason.startswith("off: not turned on")
    assert telemetry_state(True, {}) == (True, "on: telemetry = true in the configuration")
    assert telemetry_state(False, {"QWEN_REVIEW_TELEMETRY": "1"}) == (True, "on: QWEN_REVIEW_TELEMETRY=1")
    assert telemetry_state(True, {"QWEN_REVIEW_TELEMETRY": "0"}) == (False, "off: QWEN_REVIEW_TELEMETRY=0")


@pytest.mark.parametrize("variable", CI_VARIABLES)
def test_always_off_in_ci_whatever_the_config(variable: str) -> None:
    enabled, reason = telemetry_state(True, {variable: "true", "QWEN_REVIEW_TELEMETRY": "1"})
    assert not enabled
    assert f"CI detected ({variable} is set)" in reason


@pytest.mark.parametrize("value", ["", "false", "0", "FALSE"])
def test_a_ci_variable_set_to_false_is_not_ci(value: str) -> None:
    assert telemetry_state(True, {"CI": value})[0]


def test_ci_with_telemetry_enabled_writes_nothing_and_sends_nothing(tmp_path: Path, collector: Collector) -> None:
    target = tmp_path / "telemetry.jsonl"
    env = {"CI": "true", "QWEN_REVIEW_TELEMETRY": "1", "QWEN_REVIEW_TELEMETRY_FILE": str(target)}
    assert record(sample_event(), enabled=True, env=env).sink == "off"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.endpoint
    assert record(sample_event(), enabled=True, env=env).sink == "off"
    assert not target.exists() and collector.posts == []


def test_disabled_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "telemetry.jsonl"
    assert record(sample_event(), enabled=False, env={"QWEN_REVIEW_TELEMETRY_FILE": str(target)}).sink == "off"
    assert not target.exists()


def test_the_file_holds_only_allow_listed_fields(tmp_path: Path) -> None:
    target = tmp_path / "state" / "telemetry.jsonl"
    env = {"QWEN_REVIEW_TELEMETRY_FILE": str(target)}
    assert record(sample_event(), enabled=True, env=env).sink == "file"
    assert record(sample_event(), enabled=True, env=env).sink == "file"
    text = target.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2 and set(lines[0]) == ALLOWED_KEYS
    event = lines[0]
    assert (event["files"], event["llm_calls"], event["findings"], event["duration_s"]) == (3, 3, 5, 4.25)
    assert event["model"] == "qwen3-coder.gguf"
    assert event["error_classes"] == ["ProviderError", "Unknown"]
    for forbidden in FORBIDDEN:
        assert forbidden not in text, forbidden
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_the_default_file_is_in_the_user_state_directory(isolated_env: Path) -> None:
    assert record(sample_event(), enabled=True, env={}).sink == "file"
    assert (isolated_env / ".local" / "state" / "qwen-review" / "telemetry.jsonl").is_file()


def test_an_event_cannot_carry_other_fields() -> None:
    with pytest.raises(TypeError):
        RunEvent(tool_version="1", python_version="3", provider_kind="openai", model="m", duration_s=1.0,
                 path="src/app.py")  # type: ignore[call-arg]
    odd = RunEvent(tool_version="1 /etc", python_version="3", provider_kind="https://x", model="m", duration_s=-2,
                   files="src/app.py")  # type: ignore[arg-type]
    assert (odd.files, odd.provider_kind, odd.duration_s, odd.tool_version) == (0, "other", 0.0, "1__etc")


def test_otlp_export_sends_one_span_with_only_allow_listed_attributes(collector: Collector) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    outcome = record(sample_event(), enabled=True, env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
    assert outcome.sink == "otlp"
    assert [path for path, _ in collector.posts] == ["/v1/traces"]
    raw = collector.posts[0][1]
    for forbidden in FORBIDDEN:
        assert forbidden.encode() not in raw, forbidden
    request = ExportTraceServiceRequest.FromString(raw)
    [resource_spans] = request.resource_spans
    resource = {kv.key for kv in resource_spans.resource.attributes}
    assert resource <= {"service.name", "service.version"}
    [span] = resource_spans.scope_spans[0].spans
    assert span.name == "qwen_review.run"
    attributes = {kv.key.removeprefix("qwen_review."): kv.value for kv in span.attributes}
    assert set(attributes) == ALLOWED_KEYS - {"event"}
    assert attributes["files"].int_value == 3 and attributes["model"].string_value == "qwen3-coder.gguf"


def test_an_otlp_endpoint_that_refuses_the_event_never_raises() -> None:
    with Collector(status=400) as refusing:
        outcome = record(sample_event(), enabled=True, env={"OTEL_EXPORTER_OTLP_ENDPOINT": refusing.endpoint})
    assert outcome.sink == "failed" and outcome.note is not None


def test_without_the_otel_extra_the_file_is_used_and_the_outcome_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: Collector) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http", None)  # as if not installed
    target = tmp_path / "t.jsonl"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "QWEN_REVIEW_TELEMETRY_FILE": str(target)}
    outcome = record(sample_event(), enabled=True, env=env)
    assert outcome.sink == "file" and outcome.note is not None and "qwen-review[otel]" in outcome.note
    assert target.is_file() and collector.posts == []


def test_an_unwritable_sink_never_raises(tmp_path: Path) -> None:
    directory = tmp_path / "is-a-directory"
    directory.mkdir()
    outcome = record(sample_event(), enabled=True, env={"QWEN_REVIEW_TELEMETRY_FILE": str(directory)})
    assert outcome.sink == "failed"
