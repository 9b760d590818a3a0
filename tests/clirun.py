"""Run the CLI in-process, from a given directory, and capture what it prints."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qwen_review.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(cwd: Path, *args: str, capsys: pytest.CaptureFixture[str], env: dict[str, str] | None = None) -> Result:
    previous = Path.cwd()
    saved = {key: os.environ.get(key) for key in (env or {})}
    os.environ.update(env or {})
    os.chdir(cwd)
    try:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
    finally:
        os.chdir(previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Result(code, captured.out, captured.err)
