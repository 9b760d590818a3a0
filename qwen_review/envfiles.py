"""Find and load one `.env` file exactly as Qwen Code does, without overriding what is already set."""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger("qwen_review.envfiles")

# Where global state lives: a project's .env must not move it (Qwen Code excludes these too).
HOME_ONLY_VARIABLES = frozenset({"QWEN_HOME", "QWEN_RUNTIME_DIR"})


def find_env_file(cwd: Path, home: Path, environ: MutableMapping[str, str], *, project: bool = True) -> Path | None:
    """Walk up from `cwd`: `.qwen/.env` then `.env` at each level (the home level uses the home files);
    then `$QWEN_HOME/.env`, `~/.qwen/.env`, `~/.env`. With `project=False` only the home files count."""
    home = Path(os.path.abspath(home))
    if project:
        current = Path(os.path.abspath(cwd))
        while True:
            if current == home:
                return _home_candidate(home, environ)
            for candidate in (current / ".qwen" / ".env", current / ".env"):
                if candidate.is_file():
                    return candidate
            if current.parent == current:
                break
            current = current.parent
    return _home_candidate(home, environ)


def load_env_files(cwd: Path, home: Path, environ: MutableMapping[str, str], *, project: bool = True) -> Path | None:
    """Load the first `.env` found into `environ` (never replacing a set variable); return its path."""
    path = find_env_file(cwd, home, environ, project=project)
    if path is None:
        return None
    from dotenv import dotenv_values

    try:
        # No interpolation: Qwen Code's dotenv.parse takes values literally.
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.debug("ignoring unreadable %s: %s", path, exc)
        return None
    home_scoped = path in _home_files(Path(os.path.abspath(home)), environ)
    for key, value in values.items():
        if value is None or key in environ:
            continue
        if key in HOME_ONLY_VARIABLES and not home_scoped:
            continue
        environ[key] = value
    return path


def _home_files(home: Path, environ: MutableMapping[str, str]) -> list[Path]:
    files = []
    qwen_home = environ.get("QWEN_HOME")
    if qwen_home:
        files.append(Path(os.path.abspath(os.path.expanduser(qwen_home))) / ".env")
    files += [home / ".qwen" / ".env", home / ".env"]
    return files


def _home_candidate(home: Path, environ: MutableMapping[str, str]) -> Path | None:
    for candidate in _home_files(home, environ):
        if candidate.is_file():
            return candidate
    return None


def load_for_this_process(*, project: bool = True) -> Path | None:
    """`load_env_files` for the working directory, the home directory and `os.environ`."""
    found = load_env_files(Path.cwd(), Path.home(), os.environ, project=project)
    if found is not None:
        log.info("read environment variables from %s", found)
    return found
