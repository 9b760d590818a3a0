"""Opt-in usage telemetry: off by default, always off in CI, and limited to an allow-list of typed fields."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from qwen_review import __version__

log = logging.getLogger("qwen_review.telemetry")

# Variables well-known CI systems set; any one of them (non-empty, not "false"/"0") means CI.
CI_VARIABLES = (
    "CI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "TRAVIS",
    "JENKINS_URL", "TF_BUILD", "TEAMCITY_VERSION", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ID", "DRONE",
    "APPVEYOR", "SEMAPHORE", "BITRISE_IO", "CF_BUILD_ID", "HEROKU_TEST_RUN_ID", "GITEA_ACTIONS", "WOODPECKER",
    "BUDDY", "CIRRUS_CI", "SCREWDRIVER",
)
ENABLE_VARIABLE = "QWEN_REVIEW_TELEMETRY"
FILE_VARIABLE = "QWEN_REVIEW_TELEMETRY_FILE"
OTLP_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_TIMEOUT_S = 3
_PROVIDER_KINDS = frozenset({"openai", "qwen-oauth", "none"})
_MODEL_CHARS = re.compile(r"[^A-Za-z0-9._:@+/-]")
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")


def ci_variable(env: Mapping[str, str]) -> str | None:
    """The name of the first CI variable set in `env`, or None outside CI."""
    for name in CI_VARIABLES:
        value = env.get(name, "").strip().lower()
        if value and value not in {"false", "0"}:
            return name
    return None


def telemetry_state(setting: bool, env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether telemetry is on for this run, and why, in words for `auth status` and `--verbose`."""
    ci = ci_variable(env)
    if ci:
        return False, f"off: CI detected ({ci} is set); telemetry is never recorded in CI"
    raw = env.get(ENABLE_VARIABLE, "").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True, f"on: {ENABLE_VARIABLE}={env[ENABLE_VARIABLE].strip()}"
    if raw:
        return False, f"off: {ENABLE_VARIABLE}={env[ENABLE_VARIABLE].strip()}"
    if setting:
        return True, "on: telemetry = true in the configuration"
    return False, f"off: not turned on (set telemetry = true or {ENABLE_VARIABLE}=1 to record usage counts locally)"


@dataclass(frozen=True)
class RunEvent:
    """One run, as telemetry records it: counts, durations, versions, provider kind, model, error class names."""

    tool_version: str
    python_version: str
    provider_kind: str
    model: str
    duration_s: float
    files: int = 0
    files_reviewed: int = 0
    units: int = 0
    llm_calls: int = 0
    cached_units: int = 0
    failed_units: int = 0
    findings: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    redactions: int = 0
    error_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Every field is re-checked here, so a caller passing the wrong thing cannot widen what is recorded.
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.type == "int" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                object.__setattr__(self, item.name, 0)
        object.__setattr__(self, "duration_s", round(max(0.0, float(self.duration_s)), 3))
        object.__setattr__(self, "provider_kind", self.provider_kind if self.provider_kind in _PROVIDER_KINDS else "other")
        object.__setattr__(self, "model", safe_model_name(self.model))
        object.__setattr__(self, "tool_version", _short(self.tool_version))
        object.__setattr__(self, "python_version", _short(self.python_version))
        object.__setattr__(self, "error_classes", tuple(sorted({_class_name(name) for name in self.error_classes})))

    def to_record(self) -> dict[str, object]:
        return {"event": "run", **dataclasses.asdict(self)}


def run_event(*, stats: object, provider_kind: str, model: str | None, findings: int,
              error_classes: Iterable[str] = ()) -> RunEvent:
    """Build the event from a run's `Stats` (any object with its count attributes)."""
    counts = {name: getattr(stats, name, 0) for name in (
        "files", "files_reviewed", "units", "llm_calls", "cached_units", "failed_units",
        "prompt_tokens", "completion_tokens", "redactions")}
    return RunEvent(tool_version=__version__, python_version=platform.python_version(), provider_kind=provider_kind,
                    model=model or "", duration_s=float(getattr(stats, "duration_s", 0.0) or 0.0),
                    findings=findings, error_classes=tuple(error_classes), **counts)


def safe_model_name(model: str) -> str:
    """A model name without any directory part (llama.cpp and vLLM accept file paths as model names)."""
    name = model.strip()
    if name.startswith(("/", "~", ".")) or "\\" in name or re.match(r"[A-Za-z]:", name):
        name = re.split(r"[\\/]", name)[-1]
    return _MODEL_CHARS.sub("_", name)[:100] or "unknown"


def _class_name(name: str) -> str:
    match = _CLASS_NAME.fullmatch(name.rsplit(".", 1)[-1])
    return match.group(0) if match else "Unknown"


def _short(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text)[:40]


@dataclass(frozen=True)
class TelemetryOutcome:
    """What `record` did; `note` explains a fallback, for `--verbose`."""

    sink: Literal["off", "file", "otlp", "failed"]
    note: str | None = None


def default_file() -> Path:
    from platformdirs import user_state_path

    return user_state_path("qwen-review") / "telemetry.jsonl"


def telemetry_file(env: Mapping[str, str]) -> Path:
    configured = env.get(FILE_VARIABLE, "").strip()
    return Path(configured).expanduser() if configured else default_file()


def describe_sink(env: Mapping[str, str]) -> str:
    if env.get(OTLP_VARIABLE, "").strip() and _otel_installed():
        return f"OpenTelemetry (OTLP) endpoint from {OTLP_VARIABLE}"
    return f"JSON lines file {telemetry_file(env)}"


def record(event: RunEvent, *, enabled: bool, env: Mapping[str, str]) -> TelemetryOutcome:
    """Write the event to its sink; never raises into the run (failures are debug-logged)."""
    if not enabled or ci_variable(env):
        return TelemetryOutcome("off")
    note = None
    try:
        if env.get(OTLP_VARIABLE, "").strip():
            if _otel_installed():
                return _export_otlp(event, env)
            note = (f"{OTLP_VARIABLE} is set but the 'otel' extra is not installed "
                    f"(pip install 'qwen-review[otel]'); wrote to the telemetry file instead")
        append_line(telemetry_file(env), json.dumps(event.to_record(), sort_keys=True))
        return TelemetryOutcome("file", note)
    except Exception as exc:  # telemetry must never fail a review
        log.debug("telemetry not recorded: %s", type(exc).__name__)
        return TelemetryOutcome("failed", f"telemetry not recorded ({type(exc).__name__})")


def append_line(path: Path, line: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _otel_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except (ModuleNotFoundError, ValueError):
        return False


def _export_otlp(event: RunEvent, env: Mapping[str, str]) -> TelemetryOutcome:
    """One span per run, sent synchronously with a short timeout; the resource names only the tool."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    endpoint = endpoint or env[OTLP_VARIABLE].strip().rstrip("/") + "/v1/traces"
    # Resource(...) rather than Resource.create(): no detectors, so no host or process details ride along.
    provider = TracerProvider(resource=Resource({"service.name": "qwen-review", "service.version": event.tool_version}))
    tracer = provider.get_tracer("qwen_review.telemetry", event.tool_version)
    end = time.time_ns()
    attributes = {f"qwen_review.{key}": value for key, value in dataclasses.asdict(event).items()}
    span = tracer.start_span("qwen_review.run", start_time=end - int(event.duration_s * 1e9),
                             attributes=attributes)
    span.end(end_time=end)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=OTLP_TIMEOUT_S)
    otel_logger = logging.getLogger("opentelemetry")
    level = otel_logger.level
    otel_logger.setLevel(logging.CRITICAL)  # its retry warnings would land on the user's terminal
    try:
        result = exporter.export([cast(ReadableSpan, span)])  # the SDK's spans are readable
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
        provider.shutdown()
        otel_logger.setLevel(level)
    if result is not SpanExportResult.SUCCESS:
        log.debug("OTLP export failed: %s", result)
        return TelemetryOutcome("failed", "the OTLP endpoint did not accept the telemetry event")
    return TelemetryOutcome("otlp")
