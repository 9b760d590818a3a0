"""The Qwen OAuth credentials file shared with Qwen Code: read, atomic 0600 writes, and its lock."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qwen_review.errors import CredentialsError

CREDS_FILENAME = "oauth_creds.json"
# Qwen Code's own lock file and protocol (create exclusively, delete on release, stale after 10 s),
# so a refresh here and one in Qwen Code never run at once and never burn each other's rotated token.
LOCK_FILENAME = "oauth_creds.lock"
LOCK_STALE_S = 10.0
LOCK_TIMEOUT_S = 30.0
REFRESH_MARGIN_S = 30.0


@dataclass(frozen=True)
class QwenCredentials:
    """The fields of `oauth_creds.json`; `expiry_date` is in milliseconds since the epoch, as Qwen Code writes it."""

    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    token_type: str = "Bearer"
    resource_url: str | None = None
    expiry_date: int | None = None
    # Fields this tool does not use (e.g. id_token) are kept so a write-back loses nothing.
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def is_fresh(self, *, now: float | None = None, margin_s: float = REFRESH_MARGIN_S) -> bool:
        """True when the access token is usable for at least `margin_s` more seconds."""
        if not self.access_token or self.expiry_date is None:
            return False
        current = time.time() if now is None else now
        return current * 1000 < self.expiry_date - margin_s * 1000

    def to_json(self) -> str:
        data: dict[str, Any] = dict(self.extra)
        data.update(access_token=self.access_token, refresh_token=self.refresh_token, token_type=self.token_type)
        if self.resource_url is not None:
            data["resource_url"] = self.resource_url
        if self.expiry_date is not None:
            data["expiry_date"] = self.expiry_date
        return json.dumps(data, indent=2) + "\n"

    def with_tokens(self, **changes: Any) -> QwenCredentials:
        return replace(self, **changes)


_KNOWN = ("access_token", "refresh_token", "token_type", "resource_url", "expiry_date")


def parse_credentials(text: str, *, source: str) -> QwenCredentials:
    """Credentials from the JSON of a credentials file; the message never quotes the content."""
    hint = ("log in again with `qwen-review auth login` (it replaces the file)" if source.endswith(".json")
            else f"put the whole content of a credentials file into {source}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialsError(f"{source}: not valid JSON (line {getattr(exc, 'lineno', '?')})", hint=hint) from exc
    if not isinstance(data, dict):
        raise CredentialsError(f"{source}: expected a JSON object", hint=hint)
    refresh = data.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise CredentialsError(f"{source}: no refresh_token", hint=hint)
    expiry = data.get("expiry_date")
    resource = data.get("resource_url")
    access = data.get("access_token")
    token_type = data.get("token_type")
    return QwenCredentials(
        access_token=access if isinstance(access, str) else "",
        refresh_token=refresh,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        resource_url=resource if isinstance(resource, str) and resource else None,
        expiry_date=int(expiry) if isinstance(expiry, int | float) and not isinstance(expiry, bool) else None,
        extra={key: value for key, value in data.items() if key not in _KNOWN},
    )


def qwen_home(env: Mapping[str, str]) -> Path:
    """`$QWEN_HOME` when set (relative to the working directory, as Qwen Code resolves it), else `~/.qwen`."""
    configured = env.get("QWEN_HOME")
    if configured:
        return Path(configured).expanduser().absolute()
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".qwen"


def credentials_path(env: Mapping[str, str]) -> Path:
    return qwen_home(env) / CREDS_FILENAME


def read_credentials(path: Path) -> QwenCredentials | None:
    """The credentials in `path`, or None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_credentials(text, source=str(path))


def write_credentials(path: Path, creds: QwenCredentials) -> None:
    """Replace the file atomically; the file is 0600 and its directory 0700 from the first byte."""
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise CredentialsError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(creds.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise CredentialsError(f"cannot write {path}: {exc.strerror or exc}") from exc


def remove_credentials(path: Path) -> bool:
    """Delete the file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CredentialsError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    return True


@contextmanager
def credentials_lock(path: Path, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock Qwen Code uses for `path` (an exclusively created sibling file) for the block."""
    lock = path.with_name(LOCK_FILENAME)
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            _remove_if_stale(lock)
            if time.monotonic() >= deadline:
                raise CredentialsError(
                    f"timed out waiting for the lock {lock}",
                    hint="another process is refreshing the Qwen login; if none is, delete the lock file",
                ) from None
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
            continue
        except OSError as exc:
            raise CredentialsError(f"cannot create the lock {lock}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(owner)
        break
    try:
        yield
    finally:
        _release(lock, owner)


def _remove_if_stale(lock: Path) -> None:
    """A holder that died leaves its lock behind; like Qwen Code, treat one older than 10 s as abandoned."""
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return
    if age > LOCK_STALE_S:
        # Rename first so two waiters cannot both delete a fresh lock taken in between.
        stale = lock.with_name(f"{lock.name}.stale.{uuid.uuid4().hex}")
        try:
            os.rename(lock, stale)
            stale.unlink()
        except OSError:
            return


def _release(lock: Path, owner: str) -> None:
    try:
        if lock.read_text(encoding="utf-8") == owner:
            lock.unlink()
    except OSError:
        return
