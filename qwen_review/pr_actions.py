"""The GitHub Actions runner's side channels: the step summary, step outputs and annotations."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from qwen_review.errors import UsageError


def escape_data(text: str) -> str:
    """A workflow command's message: '%', CR and LF would end or corrupt the command line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotate(level: str, message: str, *, title: str = "qwen-review") -> None:
    """`::error::` / `::warning::` / `::notice::` on stderr (the runner reads both streams; stdout holds the report).

    Only inside GitHub Actions (`GITHUB_ACTIONS=true`): in a terminal the workflow command would be
    a second copy of the `qwen-review: error: ...` line that every message gets anyway.
    """
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    title_value = escape_data(title).replace(":", "%3A").replace(",", "%2C")
    sys.stderr.write(f"::{level} title={title_value}::{escape_data(message)}\n")
    sys.stderr.flush()


def append_step_summary(path: Path | None, markdown: str) -> None:
    """Append to GITHUB_STEP_SUMMARY (each step's file is shown on the run's summary page)."""
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")
    except OSError as exc:
        raise UsageError(f"cannot write the step summary {path}: {exc.strerror or exc}") from exc


def format_outputs(values: Mapping[str, str]) -> str:
    """`name=value` lines; a value with a line break uses the heredoc form with a delimiter it cannot contain."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}")
        else:
            lines.append(f"{name}={value}")
    return "".join(f"{line}\n" for line in lines)


def write_outputs(path: Path | None, values: Mapping[str, str]) -> None:
    """Append step outputs to GITHUB_OUTPUT."""
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(format_outputs(values))
    except OSError as exc:
        raise UsageError(f"cannot write the step outputs {path}: {exc.strerror or exc}") from exc
