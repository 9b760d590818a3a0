"""Settings, resolved once: flags > environment > config file > defaults."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qwen_review.errors import ConfigError

CONFIG_FILE = ".qwen-review.toml"
FailOn = Literal["none", "info", "low", "medium", "high", "critical"]  # "none" + review.Severity, one Literal for one readable error


class Settings(BaseModel):
    """Every setting a run uses; the keys of `.qwen-review.toml` are exactly these fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    base_url: str | None = None
    provider: Literal["openai", "qwen-oauth"] | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    default_excludes: bool = True
    max_file_size: int = Field(default=1_000_000, ge=0)
    detect_copies: bool = False
    fail_on: FailOn = "none"
    on_error: Literal["fail", "warn"] = "fail"
    language: str | None = None
    instructions: str | None = None
    templates_dir: str | None = None
    max_inline_comments: int = Field(default=25, ge=0)
    concurrency: int = Field(default=4, ge=1, le=64)
    max_prompt_tokens: int = Field(default=12_000, ge=1_000)
    timeout: float = Field(default=300.0, gt=0)
    cache: bool = True
    telemetry: bool = False
    review_drafts: bool = False
    review_during_merge: bool = False


# Variables read for a key when no flag sets it; first one set wins.
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "model": ("QWEN_REVIEW_MODEL", "OPENAI_MODEL", "QWEN_MODEL"),
    "base_url": ("QWEN_REVIEW_BASE_URL", "OPENAI_BASE_URL"),
    "provider": ("QWEN_REVIEW_PROVIDER",),
    "fail_on": ("QWEN_REVIEW_FAIL_ON",),
    "on_error": ("QWEN_REVIEW_ON_ERROR",),
    "language": ("QWEN_REVIEW_LANGUAGE",),
    "concurrency": ("QWEN_REVIEW_CONCURRENCY",),
    "timeout": ("QWEN_REVIEW_TIMEOUT",),
    "telemetry": ("QWEN_REVIEW_TELEMETRY",),
    "max_prompt_tokens": ("QWEN_REVIEW_MAX_PROMPT_TOKENS",),
}


PYPROJECT_TABLES = ("qwen-review", "qwen_review")  # TOML users write either; both at once is an error


def find_config_file(root: Path, *, warn: Callable[[str], None] | None = None) -> Path | None:
    """The config file in a work tree's root (see `config_file_name`)."""
    def read(name: str) -> str | None:
        path = root / name
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

    name = config_file_name(read, warn=warn)
    return root / name if name is not None else None


def config_file_name(read: Callable[[str], str | None], *, warn: Callable[[str], None] | None = None) -> str | None:
    """`.qwen-review.toml`, else a `pyproject.toml` with a qwen-review table, as `read(name)` finds them.

    `read` returns a root file's text or None, from a work tree or a commit. When both files
    configure qwen-review, the first wins and `warn` says the table in pyproject.toml is ignored.
    """
    pyproject = read("pyproject.toml")
    has_table = pyproject is not None and _has_tool_table(pyproject)
    if read(CONFIG_FILE) is not None:
        if has_table and warn is not None:
            warn(f"{CONFIG_FILE} is used; the [tool.qwen-review] table in pyproject.toml is ignored")
        return CONFIG_FILE
    return "pyproject.toml" if has_table else None


def _has_tool_table(pyproject: str) -> bool:
    if not any(name in pyproject for name in PYPROJECT_TABLES):
        return False  # the common case: no need to parse someone else's pyproject.toml
    try:
        tool = tomllib.loads(pyproject).get("tool")
    except tomllib.TOMLDecodeError:
        return True  # it names qwen-review: reading it will report the TOML error
    return isinstance(tool, dict) and any(name in tool for name in PYPROJECT_TABLES)


def parse_config_text(text: str, source: str) -> dict[str, Any]:
    """The qwen-review table of a TOML document (the whole document for .qwen-review.toml)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    if source.endswith("pyproject.toml"):
        tool = document.get("tool", {})
        tables = [name for name in PYPROJECT_TABLES if isinstance(tool, dict) and name in tool]
        if len(tables) > 1:
            raise ConfigError(f"{source}: both [tool.qwen-review] and [tool.qwen_review]: keep one")
        table = tool[tables[0]] if tables else {}
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [tool.{tables[0]}] must be a table")
        return table
    return document


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    return parse_config_text(text, str(path))


def resolve_settings(
    file_values: Mapping[str, Any],
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    source: str = "configuration",
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers in their documented order and validate the result.

    `defaults` replace the built-in defaults (the hooks use `fail_on = "high"`, for example)
    and sit below the config file, so a repository's own settings still win. An invalid
    value is reported with the layer it came from: the file, the variable, or the option.
    """
    env = os.environ if env is None else env
    merged: dict[str, Any] = dict(defaults or {})
    origin: dict[str, str] = {key: "defaults" for key in merged}
    for key, value in file_values.items():
        merged[key.replace("-", "_")] = value
        origin[key.replace("-", "_")] = source
    for key, names in ENV_KEYS.items():
        for name in names:
            value = env.get(name)
            if value:
                merged[key] = _env_value(key, value)
                origin[key] = f"environment variable {name}"
                break
    for key, value in flags.items():
        if value is not None:
            merged[key] = value
            origin[key] = f"option --{key.replace('_', '-')}"
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        raise ConfigError(f"{origin.get(key, source)}: {_describe(error)}") from exc


def _env_value(key: str, value: str) -> Any:
    # pydantic reads 1/0, true/false, yes/no, on/off (any case) as booleans and refuses anything else,
    # so a typo such as QWEN_REVIEW_TELEMETRY=maybe is an error naming the variable, not a silent "off".
    return value.strip() if Settings.model_fields[key].annotation is bool else value


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "?"
    if error["type"] == "extra_forbidden":
        known = ", ".join(sorted(Settings.model_fields))
        return f"unknown key {key!r} (known keys: {known})"
    given = error.get("input")
    # The value itself helps spot a typo; long text (instructions) and structures are left out.
    shown = isinstance(given, int | float | str) and len(str(given)) <= 40
    return f"key {key!r}: {error['msg']}" + (f" (got {given!r})" if shown else "")
